# rnix-pkgs: the package set that rnix embeds in place of nixpkgs.
# It takes nixpkgs' arguments and applies overlays as nixpkgs does.
{ system ? builtins.currentSystem
, config ? { }
, overlays ? [ ]
, crossSystem ? null
, localSystem ? null
  # Not a nixpkgs argument: another lock file (tests use a small hand-made one).
, lockFile ? null
, ...
}:

let
  lib = import ./lib;

  system' =
    if localSystem == null then system
    else if builtins.isString localSystem then localSystem
    else localSystem.system or system;

  config' = if lib.isFunction config then config { } else config;

  lockPath = if lockFile != null then lockFile else ./lock.json;
  lock =
    if lockFile == null && !(builtins.pathExists ./lock.json)
    then throw "rnix-pkgs: the lock file pkgs/lock.json is missing; run the lock updater to create it"
    else builtins.fromJSON (builtins.readFile lockPath);

  # The index of the whole Debian archive, which rnix writes beside these files from its
  # embedded snapshot. A lock file given as `lockFile` with Debian packages replaces it.
  indexDir =
    if builtins.pathExists ./debian-index
      && (lockFile == null || (lock.debian.packages or { }) == { })
    then ./debian-index else null;

  allPackages = import ./top-level.nix {
    inherit lib lock indexDir;
    system = system';
    config = config';
    path = ./.;
  };

  checkedOverlays =
    if builtins.isList overlays then
      map (o: if lib.isFunction o then o else throw "rnix-pkgs: each overlay must be a function `final: prev: { ... }'") overlays
    else throw "rnix-pkgs: the `overlays' argument must be a list of functions";

  toFix = lib.foldl' (lib.flip lib.extends) allPackages checkedOverlays;
in
assert lib.assertMsg (crossSystem == null) "rnix-pkgs does not support cross compilation (crossSystem)";
lib.fix toFix
