# buildEnv with nixpkgs' interface, built by rnix's builtin `rnix-buildenv`
# (nixpkgs semantics: the directories named in `pathsToLink` and their parents
# are real directories; below them a directory that comes from one package is
# a symlink, merged directories are real).
{ lib, system, shell }:

lib.makeOverridable (
  { name
  , paths
  , ignoreCollisions ? false
  , checkCollisionContents ? true
  , pathsToLink ? [ "/" ]
  , extraOutputsToInstall ? [ ]
  , extraPrefix ? ""
  , postBuild ? ""
  , nativeBuildInputs ? [ ]
  , buildInputs ? [ ]
  , includeClosures ? false
  , manifest ? ""
  , ignoreSingleFileOutputs ? false
  , passthru ? { }
  , meta ? { }
  }:
  let
    paths' = lib.toList paths;
    # Each path, plus the extra outputs it has (e.g. "dev", "man").
    outputsOf = p:
      [ p ] ++ map (o: p.${o}) (builtins.filter (o: builtins.isAttrs p && p ? ${o} && o != (p.outputName or "out")) extraOutputsToInstall);
    allPaths = lib.unique (builtins.concatMap outputsOf paths');
    drv = derivation {
      inherit name system extraPrefix postBuild shell;
      builder = "builtin:rnix-buildenv";
      paths = allPaths;
      pathsToLink = if pathsToLink == [ ] then [ "/" ] else pathsToLink;
      ignoreCollisions = if ignoreCollisions then "1" else "";
      checkCollisionContents = if checkCollisionContents then "1" else "";
      inherit nativeBuildInputs buildInputs manifest;
      preferLocalBuild = true;
      allowSubstitutes = false;
    };
  in
  drv // passthru // { inherit meta; }
)
