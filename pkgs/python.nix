# python311 from Debian (group python311), its package set from locked PyPI
# wheels, and `withPackages`, built by rnix's builtin `rnix-python-env`.
{ lib, lock, system, fetchurl, debian }:

let
  inherit (builtins) attrNames listToAttrs filter sort map replaceStrings;

  pypi = lock.pypi or { };

  pythonVersion = "3.11";
  libPrefix = "python${pythonVersion}";
  executable = libPrefix;

  # PyPI (PEP 503) name -> nixpkgs attribute name, where they differ.
  renames = { };
  attrNameOf = key: renames.${key} or key;

  lockEntry = key:
    pypi.${key} or (throw "rnix-pkgs: Python package `${key}' is not in the lock file; add it to the `pypi' roots in pkgs/lock-roots.json and refresh the lock");

  wheelOf = key:
    let e = lockEntry key;
    in fetchurl {
      url = "mirror://pypi/${key}/${e.filename}";
      sha256 = e.sha256;
      name = lib.sanitizeDerivationName e.filename;
    };

  wheels = listToAttrs (map (k: { name = k; value = wheelOf k; }) (attrNames pypi));

  # Libraries that manylinux wheels load from the system (pydantic-core needs
  # libgcc_s, C++ extensions need libstdc++); only those that are locked.
  wheelLibRoots = filter debian.has [ "libgcc-s1" "libstdc++6" "zlib1g" ];

  # Library store paths for the wheels' RUNPATH: python's closure and the above.
  libraryKeys = lib.unique (sort builtins.lessThan (
    [ "python311" ] ++ debian.closureKeys "python311"
    ++ builtins.concatMap (d: [ (debian.keyOf d) ] ++ debian.closureKeys (debian.keyOf d)) wheelLibRoots));

  # The transitive closure of PyPI keys required by `keys`.
  pypiClosure = keys:
    sort builtins.lessThan (map (x: x.key) (builtins.genericClosure {
      startSet = map (k: { key = k; }) keys;
      operator = item: map (k: { key = k; }) ((lockEntry item.key).depends or [ ]);
    }));

  makePython = base:
    let
      python = base // {
        inherit pythonVersion libPrefix executable withPackages buildEnv;
        pkgs = pythonPackages;
        interpreter = "${base}/bin/${executable}";
        sitePackages = "lib/${libPrefix}/site-packages";
        implementation = "cpython";
        isPy3 = true;
        isPy311 = true;
        isPy3k = true;
        isPyPy = false;
        pythonAtLeast = lib.versionAtLeast pythonVersion;
        pythonOlder = lib.versionOlder pythonVersion;
        pythonOnBuildForHost = python;
        meta = base.meta // { mainProgram = "python3"; };
      };

      mkPythonPackage = key:
        let
          e = lockEntry key;
          w = wheels.${key};
        in
        w // {
          pname = attrNameOf key;
          inherit (e) version;
          pypiName = key;
          wheel = w;
          pythonModule = python;
          propagatedBuildInputs = map (d: pythonPackages.${attrNameOf d}) (e.depends or [ ]);
          requiredPythonModules = map (d: pythonPackages.${attrNameOf d}) (lib.remove key (pypiClosure [ key ]));
          meta = {
            description = "Python package ${key} ${e.version} (wheel ${e.filename})";
            platforms = [ "x86_64-linux" ];
          };
        };

      locked = listToAttrs (map (k: { name = attrNameOf k; value = mkPythonPackage k; }) (attrNames pypi));

      # Older nixpkgs spellings with `_` (typing_extensions, pydantic_core, ...).
      underscoreAliases = listToAttrs (map
        (n: { name = replaceStrings [ "-" ] [ "_" ] n; value = locked.${n}; })
        (filter (n: lib.hasInfix "-" n && !(locked ? ${replaceStrings [ "-" ] [ "_" ] n})) (attrNames locked)));

      notSupported = what: _: throw "rnix-pkgs: ${what} is not supported: Python packages come from locked wheels; add the package to the `pypi' roots in pkgs/lock-roots.json and use python3.withPackages";

      pythonPackages = underscoreAliases // locked // {
        inherit python pythonVersion;
        pythonAtLeast = python.pythonAtLeast;
        pythonOlder = python.pythonOlder;
        isPy3k = true;
        buildPythonPackage = notSupported "buildPythonPackage";
        buildPythonApplication = notSupported "buildPythonApplication";
        toPythonModule = x: x;
        toPythonApplication = x: x;
        recurseForDerivations = false;
      };

      # python.withPackages (ps: [ ps.fastapi ps.uvicorn ])
      withPackages = f:
        let
          selected = f pythonPackages;
          keyOfPkg = p:
            if builtins.isAttrs p && p ? pypiName then p.pypiName
            else throw "rnix-pkgs: python.withPackages: ${if builtins.isAttrs p && p ? name then "`${p.name}'" else "a value"} is not a Python package from the lock (use the attributes of the `ps' argument)";
          keys = pypiClosure (map keyOfPkg (lib.toList selected));
        in
        mkEnv { extraLibs = map (k: pythonPackages.${attrNameOf k}) keys; requested = selected; inherit keys; };

      # python.buildEnv.override { extraLibs = [ ... ]; }
      buildEnv = lib.makeOverridable ({ extraLibs ? [ ], ignoreCollisions ? false, postBuild ? "", makeWrapperArgs ? [ ], permitUserSite ? false }:
        withPackages (_: extraLibs)) { };

      mkEnv = { extraLibs, requested, keys }:
        let
          drv = derivation {
            name = "${base.name}-env";
            inherit system pythonVersion;
            builder = "builtin:rnix-python-env";
            python = base;
            wheels = map (k: wheels.${k}) keys;
            deps = map debian.byKey libraryKeys;
          };
        in
        drv // {
          inherit python extraLibs executable pythonVersion;
          inherit (python) version sitePackages;
          pname = "${python.pname}-env";
          interpreter = "${drv}/bin/${executable}";
          requestedPackages = requested;
          meta = python.meta // { description = "Python ${pythonVersion} with ${lib.concatStringsSep ", " keys}"; };
        };
    in
    python;
in
{
  inherit makePython pypiClosure wheels;
}
