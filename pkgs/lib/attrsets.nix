{ lib }:
let
  inherit (builtins) head tail length attrNames attrValues listToAttrs hasAttr getAttr
    isAttrs filter mapAttrs catAttrs intersectAttrs removeAttrs concatMap;
in
rec {
  inherit attrNames attrValues listToAttrs hasAttr getAttr isAttrs mapAttrs catAttrs
    intersectAttrs removeAttrs;

  attrByPath = attrPath: default: set:
    let
      lenAttrPath = length attrPath;
      attrByPath' = n: s:
        if n == lenAttrPath then s
        else let attr = builtins.elemAt attrPath n;
        in if s ? ${attr} then attrByPath' (n + 1) s.${attr} else default;
    in
    attrByPath' 0 set;
  hasAttrByPath = attrPath: e:
    if attrPath == [ ] then true
    else let attr = head attrPath;
    in if isAttrs e && e ? ${attr} then hasAttrByPath (tail attrPath) e.${attr} else false;
  setAttrByPath = attrPath: value:
    if attrPath == [ ] then value
    else listToAttrs [ { name = head attrPath; value = setAttrByPath (tail attrPath) value; } ];
  getAttrFromPath = attrPath: set:
    attrByPath attrPath (abort ("cannot find attribute `" + lib.concatStringsSep "." attrPath + "'")) set;
  attrVals = nameList: set: map (x: set.${x}) nameList;
  getAttrs = names: attrs: genAttrs names (name: attrs.${name});
  filterAttrs = pred: set:
    listToAttrs (concatMap (name: let v = set.${name}; in if pred name v then [ (nameValuePair name v) ] else [ ]) (attrNames set));
  filterAttrsRecursive = pred: set:
    listToAttrs (concatMap
      (name:
        let v = set.${name}; in
        if pred name v then [ (nameValuePair name (if isAttrs v then filterAttrsRecursive pred v else v)) ] else [ ])
      (attrNames set));
  foldlAttrs = f: init: set: builtins.foldl' (acc: name: f acc name set.${name}) init (attrNames set);
  foldAttrs = op: nul: list_of_attrs:
    builtins.foldl' (a: n: builtins.foldl' (o: name: o // { ${name} = op n.${name} (a.${name} or nul); }) a (attrNames n)) { } (lib.reverseList list_of_attrs);
  collect = pred: attrs:
    if pred attrs then [ attrs ]
    else if isAttrs attrs then concatMap (collect pred) (attrValues attrs)
    else [ ];
  nameValuePair = name: value: { inherit name value; };
  mapAttrs' = f: set: listToAttrs (map (attr: f attr set.${attr}) (attrNames set));
  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (attrNames attrs);
  attrsToList = mapAttrsToList nameValuePair;
  concatMapAttrs = f: v: builtins.foldl' (a: b: a // b) { } (attrValues (mapAttrs f v));
  mapAttrsRecursive = mapAttrsRecursiveCond (as: true);
  mapAttrsRecursiveCond = cond: f: set:
    let
      recurse = path:
        mapAttrs (name: value:
          if isAttrs value && cond value then recurse (path ++ [ name ]) value else f (path ++ [ name ]) value);
    in
    recurse [ ] set;
  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);
  isDerivation = value: value.type or null == "derivation";
  toDerivation = path:
    let path' = builtins.storePath path;
    in { type = "derivation"; name = builtins.unsafeDiscardStringContext (builtins.substring 33 (-1) (baseNameOf path')); outPath = path'; outputs = [ "out" ]; out = path'; outputName = "out"; };
  optionalAttrs = cond: as: if cond then as else { };
  zipAttrsWithNames = names: f: sets:
    listToAttrs (map (name: { inherit name; value = f name (catAttrs name sets); }) names);
  zipAttrsWith = builtins.zipAttrsWith;
  zipAttrs = zipAttrsWith (name: values: values);
  recursiveUpdateUntil = pred: lhs: rhs:
    let
      f = attrPath:
        zipAttrsWith (n: values:
          let here = attrPath ++ [ n ]; in
          if length values == 1 || pred here (builtins.elemAt values 1) (head values)
          then head values
          else f here values);
    in
    f [ ] [ rhs lhs ];
  recursiveUpdate = recursiveUpdateUntil (path: lhs: rhs: !(isAttrs lhs && isAttrs rhs));
  matchAttrs = pattern: attrs:
    assert isAttrs pattern;
    builtins.all (attr:
      let pat = pattern.${attr}; in
      attrs ? ${attr} && (if isAttrs pat then isAttrs attrs.${attr} && matchAttrs pat attrs.${attr} else pat == attrs.${attr}))
      (attrNames pattern);
  overrideExisting = old: new: mapAttrs (name: value: new.${name} or value) old;
  showAttrPath = path: if path == [ ] then "<root attribute path>" else lib.concatMapStringsSep "." lib.escapeNixIdentifier path;
  getOutput = output: pkg:
    if !pkg ? outputSpecified || !pkg.outputSpecified then pkg.${output} or pkg.out or pkg else pkg;
  getBin = getOutput "bin";
  getLib = getOutput "lib";
  getDev = getOutput "dev";
  getMan = getOutput "man";
  chooseDevOutputs = builtins.map getDev;
  recurseIntoAttrs = attrs: attrs // { recurseForDerivations = true; };
  dontRecurseIntoAttrs = attrs: attrs // { recurseForDerivations = false; };
  cartesianProductOfSets = attrsOfLists:
    builtins.foldl' (listOfAttrs: attrName:
      concatMap (attrs: map (listValue: attrs // { ${attrName} = listValue; }) attrsOfLists.${attrName}) listOfAttrs)
      [ { } ] (attrNames attrsOfLists);
  updateManyAttrsByPath = updates: value:
    builtins.foldl' (acc: u: recursiveUpdate acc (setAttrByPath u.path (u.update (attrByPath u.path null acc)))) value updates;
  unionOfDisjoint = x: y:
    let intersection = builtins.intersectAttrs x y; collisions = lib.concatStringsSep " " (attrNames intersection);
    in if intersection == { } then x // y else throw "unionOfDisjoint: collision on ${collisions}";
}
