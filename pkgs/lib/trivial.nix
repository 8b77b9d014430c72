{ lib }:
rec {
  # The name and version of this package set (nixpkgs reports its release here).
  release = "0.1";
  version = "rnix-pkgs 0.1";
  versionSuffix = "";
  codeName = "rnix";
  oldestSupportedRelease = 2305;
  isInOldestRelease = release: release <= oldestSupportedRelease;

  id = x: x;
  const = x: _: x;
  pipe = builtins.foldl' (x: f: f x);
  concat = x: y: x ++ y;
  or = x: y: x || y;
  and = x: y: x && y;
  xor = x: y: (!x) != (!y);
  bitAnd = builtins.bitAnd;
  bitOr = builtins.bitOr;
  bitXor = builtins.bitXor;
  boolToString = b: if b then "true" else "false";
  mergeAttrs = x: y: x // y;
  flip = f: a: b: f b a;
  defaultTo = default: maybeValue: if maybeValue != null then maybeValue else default;
  mapNullable = f: a: if a == null then a else f a;
  add = builtins.add;
  sub = builtins.sub;
  lessThan = builtins.lessThan;
  max = x: y: if x > y then x else y;
  min = x: y: if x < y then x else y;
  mod = base: int: base - (int * (builtins.div base int));
  compare = a: b: if a < b then -1 else if a > b then 1 else 0;
  splitByAndCompare = p: yes: no: a: b:
    if p a then (if p b then yes a b else -1) else (if p b then 1 else no a b);

  seq = builtins.seq;
  deepSeq = builtins.deepSeq;
  trace = builtins.trace;
  traceVal = x: builtins.trace x x;
  warn = msg: builtins.trace "[1;31mwarning: ${msg}[0m";
  warnIf = cond: msg: if cond then warn msg else x: x;
  throwIf = cond: msg: if cond then throw msg else x: x;
  throwIfNot = cond: msg: if cond then x: x else throw msg;
  info = msg: builtins.trace "INFO: ${msg}";

  inNixShell = builtins.getEnv "IN_NIX_SHELL" != "";
  importJSON = path: builtins.fromJSON (builtins.readFile path);
  importTOML = path: builtins.fromTOML (builtins.readFile path);

  isFunction = f: builtins.isFunction f || (f ? __functor && isFunction (f.__functor f));
  functionArgs = f:
    if f ? __functor
    then f.__functionArgs or (functionArgs (f.__functor f))
    else builtins.functionArgs f;
  setFunctionArgs = f: args: { __functor = self: f; __functionArgs = args; };
  mirrorFunctionArgs = f: let fArgs = functionArgs f; in g: setFunctionArgs g fArgs;
  toFunction = v: if isFunction v then v else _: v;
}
