{ lib }:
let
  inherit (builtins) length elemAt head tail filter substring stringLength replaceStrings
    concatStringsSep genList match split isString isPath typeOf;
in
rec {
  inherit concatStringsSep stringLength substring match split replaceStrings isString isPath;

  concatStrings = builtins.concatStringsSep "";
  concatMapStrings = f: list: concatStrings (map f list);
  concatImapStrings = f: list: concatStrings (lib.imap1 f list);
  intersperse = separator: list:
    if list == [ ] || length list == 1 then list
    else tail (lib.concatMap (x: [ separator x ]) list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  concatImapStringsSep = sep: f: list: concatStringsSep sep (lib.imap1 f list);
  concatLines = list: concatStrings (map (s: s + "\n") list);

  makeSearchPath = subDir: paths:
    concatStringsSep ":" (map (path: path + "/" + subDir) (filter (x: x != null) paths));
  makeSearchPathOutput = output: subDir: pkgs:
    makeSearchPath subDir (map (lib.getOutput output) pkgs);
  makeLibraryPath = makeSearchPathOutput "lib" "lib";
  makeBinPath = makeSearchPathOutput "bin" "bin";

  optionalString = cond: string: if cond then string else "";

  hasPrefix = pref: str: substring 0 (stringLength pref) str == pref;
  hasSuffix = suffix: content:
    let lenContent = stringLength content; lenSuffix = stringLength suffix;
    in lenContent >= lenSuffix && substring (lenContent - lenSuffix) lenContent content == suffix;
  hasInfix = infix: content:
    builtins.match (builtins.unsafeDiscardStringContext ".*${escapeRegex infix}.*")
      (builtins.unsafeDiscardStringContext "${content}") != null;

  stringToCharacters = s: genList (p: substring p 1 s) (stringLength s);
  stringAsChars = f: s: concatMapStrings f (stringToCharacters s);

  escape = list: replaceStrings list (map (c: "\\${c}") list);
  escapeShellArg = arg:
    let string = toString arg;
    in if match "[[:alnum:],._+:@%/-]+" string == null
      then "'${replaceStrings [ "'" ] [ "'\\''" ] string}'"
      else string;
  escapeShellArgs = concatMapStringsSep " " escapeShellArg;
  # Percent-encodes everything except unreserved characters (RFC 3986).
  escapeURL =
    let
      unreserved = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z"
        "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z"
        "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "-" "_" "." "~" ];
      toEscape = builtins.removeAttrs asciiTable unreserved;
    in
    replaceStrings (builtins.attrNames toEscape) (map (c: "%${fixedWidthString 2 "0" (lib.toUpper (toHexString c))}") (builtins.attrValues toEscape));
  asciiTable = builtins.listToAttrs (map (n: { name = builtins.fromJSON "\"\\u00${fixedWidthString 2 "0" (toHexString n)}\""; value = n; }) (lib.range 32 126));
  toHexString = n:
    let
      digits = [ "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "a" "b" "c" "d" "e" "f" ];
      go = x: if x < 16 then builtins.elemAt digits x else go (x / 16) + builtins.elemAt digits (x - (x / 16) * 16);
    in
    go n;
  escapeRegex = escape (stringToCharacters "\\[{()^$?*+|.");
  escapeNixString = s: escape [ "$" ] (builtins.toJSON s);
  escapeNixIdentifier = s:
    if match "[a-zA-Z_][a-zA-Z0-9_'-]*" s != null then s else escapeNixString s;
  escapeXML = replaceStrings [ "\"" "'" "<" ">" "&" ] [ "&quot;" "&apos;" "&lt;" "&gt;" "&amp;" ];
  replaceChars = replaceStrings;

  lowerChars = stringToCharacters "abcdefghijklmnopqrstuvwxyz";
  upperChars = stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  toLower = replaceStrings upperChars lowerChars;
  toUpper = replaceStrings lowerChars upperChars;

  addContextFrom = a: b: substring 0 0 a + b;

  # splitString "." "a.b" == [ "a" "b" ]; the separator is literal.
  splitString = sep: s:
    let splits = filter isString (split (escapeRegex (toString sep)) (toString s));
    in map (addContextFrom s) splits;

  removePrefix = prefix: str:
    let preLen = stringLength prefix;
    in if substring 0 preLen str == prefix then substring preLen (-1) str else str;
  removeSuffix = suffix: str:
    let sufLen = stringLength suffix; sLen = stringLength str;
    in if sufLen <= sLen && suffix == substring (sLen - sufLen) sufLen str
      then substring 0 (sLen - sufLen) str else str;

  trimWith = { start ? false, end ? false }: s:
    let
      chars = " \t\r\n";
      regex =
        if start && end then "[${chars}]*(.*[^${chars}])[${chars}]*"
        else if start then "[${chars}]*(.*)"
        else if end then "(.*[^${chars}])[${chars}]*"
        else "(.*)";
      res = match regex s;
    in
    if res == null then "" else head res;
  trim = trimWith { start = true; end = true; };

  versionOlder = v1: v2: builtins.compareVersions v2 v1 == 1;
  versionAtLeast = v1: v2: !versionOlder v1 v2;

  getName = x: let parse = drv: (builtins.parseDrvName drv).name;
    in if isString x then parse x else x.pname or (parse x.name);
  getVersion = x: let parse = drv: (builtins.parseDrvName drv).version;
    in if isString x then parse x else x.version or (parse x.name);
  nameFromURL = url: sep:
    let
      components = splitString "/" url;
      filename = lib.last components;
      name = head (splitString sep filename);
    in
    assert name != filename; name;

  enableFeature = enable: feat: "--${if enable then "enable" else "disable"}-${feat}";
  enableFeatureAs = enable: feat: value: enableFeature enable feat + optionalString enable "=${value}";
  withFeature = with_: feat: "--${if with_ then "with" else "without"}-${feat}";
  withFeatureAs = with_: feat: value: withFeature with_ feat + optionalString with_ "=${value}";
  mesonOption = feature: value: "-D${feature}=${value}";
  mesonBool = condition: flag: mesonOption condition (lib.boolToString flag);
  mesonEnable = feature: flag: mesonOption feature (if flag then "enabled" else "disabled");
  cmakeOptionType = type: feature: value: "-D${feature}:${lib.toUpper type}=${value}";
  cmakeBool = condition: flag: cmakeOptionType "bool" condition (lib.toUpper (lib.boolToString flag));
  cmakeFeature = feature: value: cmakeOptionType "string" feature value;

  fixedWidthString = width: filler: str:
    let strw = stringLength str; reqWidth = width - (stringLength filler);
    in if strw == width then str else filler + fixedWidthString reqWidth filler str;
  fixedWidthNumber = width: n: fixedWidthString width "0" (toString n);

  toInt = str:
    let
      strippedInput = match "[[:space:]]*(0*)(-?[[:digit:]]+)[[:space:]]*" str;
      parsed = if strippedInput == null then null else builtins.fromJSON (elemAt strippedInput 1);
    in
    if strippedInput == null || !builtins.isInt parsed
    then throw "lib.strings.toInt: Could not convert ${escapeNixString str} to int."
    else parsed;
  toIntBase10 = toInt;

  isStringLike = x: isString x || isPath x || x ? outPath || x ? __toString;
  isStorePath = x:
    if isStringLike x then
      let str = toString x;
      in substring 0 1 str == "/" && dirOf str == builtins.storeDir
        && match "[0-9a-z]{32}-.*" (baseNameOf str) != null
    else false;

  readPathsFromFile = rootPath: file:
    let
      lines = lib.splitString "\n" (builtins.readFile file);
      relativePaths = filter (line: line != "" && match "^#.*" line == null) lines;
    in
    map (path: rootPath + ("/" + path)) relativePaths;
  fileContents = file: removeSuffix "\n" (builtins.readFile file);

  # Turns any string into a valid store path name (nixpkgs' sanitizeDerivationName).
  sanitizeDerivationName =
    let okRegex = match "[[:alnum:]+_?=-][[:alnum:]+._?=-]*";
    in string:
      if stringLength string <= 207 && okRegex string != null then builtins.unsafeDiscardStringContext string
      else
        let
          parts = filter isString (split "[^[:alnum:]+._?=-]+" (builtins.unsafeDiscardStringContext string));
          joined = concatStringsSep "-" (filter (x: x != "") parts);
          noDot = let m = match "\\.*(.*)" joined; in head m;
          trimmed = let l = stringLength noDot; in if l > 207 then substring (l - 207) 207 noDot else noDot;
        in
        if trimmed == "" then "unknown" else trimmed;
}
