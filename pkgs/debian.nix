# Debian bookworm binary packages from the lock, as Nix-style store paths.
#
# Each locked package becomes one store path named `<debname>-<version>`
# (epoch dropped, `~` -> `_`), built by rnix's builtin `rnix-deb` from its
# fetched `.deb`s. A few packages are grouped into one store path (see
# `groups`); a group's dependencies are the union of its members' `depends`
# minus its members. `deps` is the transitive closure of the dependencies.
{ lib, lock, system, fetchurl }:

let
  inherit (builtins) attrNames listToAttrs concatMap filter elem head sort replaceStrings match;

  packages = lock.debian.packages or (throw "rnix-pkgs: the lock file has no `debian.packages'");

  # Group name -> { pname; members (the first gives the version); optional
  # members (added when they are locked: python3-minimal gives bin/python3,
  # python-is-python3 bin/python, as nixpkgs' python3 has them) }.
  groupDefs = {
    python311 = {
      pname = "python3";
      members = [ "python3.11-minimal" "libpython3.11-minimal" "libpython3.11-stdlib" ];
      optional = [ "python3-minimal" "python-is-python3" ];
    };
    glibc = { pname = "glibc"; members = [ "libc6" ]; optional = [ ]; };
  };
  groups = builtins.mapAttrs (g: def: def // {
    members = def.members ++ filter (m: packages ? ${m}) def.optional;
  }) groupDefs;

  # Debian package name -> the key of the store path that holds it.
  memberToGroup = listToAttrs (concatMap
    (g: map (m: { name = m; value = g; }) groups.${g}.members)
    (attrNames groups));
  keyOf = deb: memberToGroup.${deb} or deb;

  # Keys of all store paths: the groups whose members are all locked, and
  # every other package.
  groupComplete = g: builtins.all (m: packages ? ${m}) groupDefs.${g}.members;
  keys = filter groupComplete (attrNames groups)
    ++ filter (d: !(memberToGroup ? ${d})) (attrNames packages);

  # lib.getExe: the program of packages whose name is not their program's.
  mainPrograms = {
    xz-utils = "xz";
    diffutils = "diff";
    findutils = "find";
    python311 = "python3.11";
    ca-certificates = "update-ca-certificates";
  };

  membersOf = key: if groups ? ${key} then groups.${key}.members else [ key ];

  lockEntry = deb:
    packages.${deb} or (throw "rnix-pkgs: Debian package `${deb}' is not in the lock file; add it to pkgs/lock-roots.json and refresh the lock");

  # Store names allow [A-Za-z0-9+-._?=]: drop the epoch, turn `~` into `_`.
  storeVersion = v:
    let noEpoch = let m = match "[0-9]+:(.*)" v; in if m == null then v else head m;
    in replaceStrings [ "~" ":" ] [ "_" "_" ] noEpoch;

  # Upstream version: no epoch, no Debian revision (3.11.2-6+deb12u9 -> 3.11.2).
  upstreamVersion = v:
    let
      noEpoch = let m = match "[0-9]+:(.*)" v; in if m == null then v else head m;
      m = match "(.*)-[^-]*" noEpoch;
    in
    if m == null then noEpoch else head m;

  directDeps = key:
    let
      members = membersOf key;
      depNames = concatMap (m: (lockEntry m).depends or [ ]) members;
    in
    lib.unique (sort builtins.lessThan
      (map keyOf (filter (d: !(elem d members)) depNames)));

  closureKeys = key:
    sort builtins.lessThan (map (x: x.key) (builtins.genericClosure {
      startSet = map (k: { key = k; }) (directDeps key);
      operator = item: map (k: { key = k; }) (directDeps item.key);
    }));

  fetchDeb = deb:
    let e = lockEntry deb;
    in fetchurl {
      url = "mirror://${e.archive}/${e.path}";
      sha256 = e.sha256;
      name = replaceStrings [ "~" "%3a" "%3A" ":" ] [ "_" "_" "_" "_" ] (baseNameOf e.path);
    };

  mkPackage = key:
    let
      members = membersOf key;
      main = lockEntry (head members);
      pname = if groups ? ${key} then groups.${key}.pname else key;
      drv = derivation {
        name = "${pname}-${storeVersion main.version}";
        inherit system;
        builder = "builtin:rnix-deb";
        debs = map fetchDeb members;
        deps = map (k: byKey.${k}) (closureKeys key);
        glibc = if key == "glibc" then "" else byKey.glibc;
      };
    in
    drv // {
      inherit pname;
      version = upstreamVersion main.version;
      debianVersion = main.version;
      debianPackages = members;
      propagatedBuildInputs = [ ];
      passthru = { };
      meta = {
        description = "Debian bookworm package ${lib.concatStringsSep " + " members}";
        platforms = [ "x86_64-linux" ];
        mainProgram = mainPrograms.${key} or pname;
        position = "pkgs/debian.nix";
      };
    };

  byKey = listToAttrs (map (k: { name = k; value = mkPackage k; }) keys);
in
{
  # Store paths by key: Debian package name, or group name (python311, glibc).
  packages = byKey;

  # The store path that holds Debian package `deb` (with a clear error when
  # the package is not locked).
  get = deb:
    let key = keyOf deb;
    in
    if byKey ? ${key} then byKey.${key}
    else if packages ? ${deb} then
      throw "rnix-pkgs: `${key}' needs the Debian packages ${lib.concatStringsSep ", " (membersOf key)} in the lock file; add them to pkgs/lock-roots.json and refresh the lock"
    else (lockEntry deb);

  inherit keyOf closureKeys upstreamVersion storeVersion;
}
