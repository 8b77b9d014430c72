# Debian bookworm binary packages as Nix-style store paths.
#
# Two sources give the packages, in the same shape (pkgset's `DebianLock`):
# - the index of the whole archive (`indexDir`, written from the embedded snapshot by rnix:
#   `<indexDir>/<shard>.json` holds the packages and groups whose name's sha256 starts with
#   the shard's three hex digits, `<indexDir>/names.json` lists every package name);
# - a lock file's `debian` section (tests and hand-made sets), when `indexDir` is null.
#
# Each store path holds one package, or a group of packages (`groups`): the package set's
# groups (python311 = the interpreter and its standard library; glibc = libc6) and every
# dependency cycle of the archive. It is named `<pname>-<version>` (epoch dropped, `~` ->
# `_`) and built by rnix's builtin `rnix-deb` from its fetched `.deb`s; `depends` are keys
# of store paths and `deps` is their transitive closure.
{ lib, lock, system, fetchurl, indexDir ? null }:

let
  inherit (builtins) attrNames listToAttrs filter head sort replaceStrings match
    substring hashString readFile fromJSON;

  useIndex = indexDir != null;
  table = lock.debian or (throw "rnix-pkgs: the lock file has no `debian' section");

  hex = [ "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "a" "b" "c" "d" "e" "f" ];
  shardOf = name: substring 0 3 (hashString "sha256" name);
  # A value per shard, computed on first use: three levels of 16 attributes (one level of
  # 4096 would cost more to build than the lookups it serves).
  perShard = f: listToAttrs (map (a: {
    name = a;
    value = listToAttrs (map (b: {
      name = b;
      value = listToAttrs (map (c: { name = c; value = f (a + b + c); }) hex);
    }) hex);
  }) hex);
  at = tree: p: tree.${substring 0 1 p}.${substring 1 1 p}.${substring 2 1 p};
  shardTree = perShard (p: fromJSON (readFile (indexDir + "/${p}.json")));
  shard = name: at shardTree (shardOf name);

  pkgEntry = name:
    if useIndex then (shard name).packages.${name} or null
    else table.packages.${name} or null;
  groupEntry = name:
    if useIndex then ((shard name).groups or { }).${name} or null
    else (table.groups or { }).${name} or null;

  has = name: pkgEntry name != null;
  keyOf = name: let e = pkgEntry name; in if e == null then name else e.group or name;
  isKey = name:
    groupEntry name != null || (let e = pkgEntry name; in e != null && !(e ? group));
  membersOf = key: let g = groupEntry key; in if g == null then [ key ] else g.members;
  pnameOf = key: let g = groupEntry key; in if g == null then key else g.pname or key;
  directDeps = key:
    let g = groupEntry key; in if g == null then (pkgEntry key).depends else g.depends;

  # Keys of the store paths whose names fall in one part of the table.
  keysIn = part:
    attrNames (part.groups or { })
    ++ filter (n: !(part.packages.${n} ? group)) (attrNames part.packages);

  # Every package name (for `pkgs.debian` and for suggestions).
  allNames =
    if useIndex then fromJSON (readFile (indexDir + "/names.json"))
    else attrNames table.packages;

  # lib.getExe: the program of packages whose name is not their program's.
  mainPrograms = {
    xz-utils = "xz";
    diffutils = "diff";
    findutils = "find";
    python311 = "python3.11";
    ca-certificates = "update-ca-certificates";
  };

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

  closureKeys = key:
    sort builtins.lessThan (map (x: x.key) (builtins.genericClosure {
      startSet = map (k: { key = k; }) (directDeps key);
      operator = item: map (k: { key = k; }) (directDeps item.key);
    }));

  # Close names for an error: names sharing the first letters, or containing the name.
  suggestions = name:
    let
      n = builtins.stringLength name;
      pre = substring 0 (if n < 4 then n else 4) name;
      close = filter (c: lib.hasPrefix pre c || (n >= 3 && lib.hasInfix name c)) allNames;
      byLength = sort (a: b: builtins.stringLength a < builtins.stringLength b
        || (builtins.stringLength a == builtins.stringLength b && a < b)) close;
    in
    lib.take 8 byLength;

  missing = name:
    let s = suggestions name; in
    if useIndex then
      throw ("rnix-pkgs: Debian bookworm has no package `${name}'"
        + (if s == [ ] then "" else "; close names: ${lib.concatStringsSep ", " s}"))
    else
      throw "rnix-pkgs: Debian package `${name}' is not in the lock file; add it to pkgs/lock-roots.json and refresh the lock";

  fetchDeb = deb:
    let e = pkgEntry deb;
    in fetchurl {
      url = "mirror://${e.archive}/${e.path}";
      sha256 = e.sha256;
      name = replaceStrings [ "~" "%3a" "%3A" ":" ] [ "_" "_" "_" "_" ] (baseNameOf e.path);
    };

  mkPackage = key:
    let
      members = membersOf key;
      main = pkgEntry (head members);
      pname = pnameOf key;
      drv = derivation {
        name = "${pname}-${storeVersion main.version}";
        inherit system;
        builder = "builtin:rnix-deb";
        # What the builtin builder does to the .debs (relocation, ELF patching, install-time
        # links): raised when that changes, so that earlier outputs are not reused.
        rnixDebVersion = "3";
        debs = map fetchDeb members;
        deps = map byKey (closureKeys key);
        glibc = if key == "glibc" then "" else byKey "glibc";
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

  # One value per store path, so that each is evaluated once: by shard from the index, all
  # at once from a lock.
  byShard = perShard
    (p: listToAttrs (map (k: { name = k; value = mkPackage k; }) (keysIn (at shardTree p))));
  byLockKey = listToAttrs (map (k: { name = k; value = mkPackage k; }) (keysIn table));
  byKey = key:
    if useIndex then (at byShard (shardOf key)).${key} else byLockKey.${key};

  # The store path that holds Debian package `deb`.
  get = deb: if has deb then byKey (keyOf deb) else missing deb;
in
{
  # Every Debian package by its name (the store path that holds it).
  packages = listToAttrs (map (n: { name = n; value = get n; }) allNames);

  inherit get has keyOf byKey closureKeys upstreamVersion storeVersion suggestions missing;
}
