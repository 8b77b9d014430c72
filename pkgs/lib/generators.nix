{ lib }:
let
  inherit (builtins) isString isInt isFloat isBool isList isAttrs isPath toJSON;
in
rec {
  mkValueStringDefault = { }: v:
    if isInt v then toString v
    else if lib.isDerivation v || isPath v then toString v
    else if isString v then v
    else if true == v then "true"
    else if false == v then "false"
    else if null == v then "null"
    else if isFloat v then lib.strings.floatToString or toString v
    else throw "generators.mkValueStringDefault: cannot convert ${builtins.typeOf v} to a string";

  mkKeyValueDefault = { mkValueString ? mkValueStringDefault { } }: sep: k: v:
    "${lib.escape [ sep ] k}${sep}${mkValueString v}";

  toKeyValue = { mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false, indent ? "" }:
    let
      mkLine = k: v: indent + mkKeyValue k v + "\n";
      mkLines = if listsAsDuplicateKeys then k: v: map (mkLine k) (if isList v then v else [ v ]) else k: v: [ (mkLine k v) ];
    in
    attrs: lib.concatStrings (lib.concatLists (lib.mapAttrsToList mkLines attrs));

  toINI = { mkSectionName ? (name: lib.escape [ "[" "]" ] name), mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false }:
    attrsOfAttrs:
    let
      mkSection = sectName: sectValues: ''
        [${mkSectionName sectName}]
      '' + toKeyValue { inherit mkKeyValue listsAsDuplicateKeys; } sectValues;
    in
    lib.concatStringsSep "\n" (lib.mapAttrsToList mkSection attrsOfAttrs);

  toJSON = { }: toJSON;
  # JSON is valid YAML.
  toYAML = { }: toJSON;

  toPretty = { multiline ? true, ... }: v:
    if isString v then builtins.toJSON v
    else if isList v then "[ " + lib.concatMapStringsSep " " (toPretty { inherit multiline; }) v + " ]"
    else if isAttrs v && !(lib.isDerivation v) then
      "{ " + lib.concatStrings (lib.mapAttrsToList (n: x: "${lib.escapeNixIdentifier n} = ${toPretty { inherit multiline; } x}; ") v) + "}"
    else if lib.isDerivation v then "<derivation ${v.name or "?"}>"
    else if builtins.isFunction v then "<function>"
    else mkValueStringDefault { } v;
}
