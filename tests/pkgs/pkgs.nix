# Assertions on the package set, evaluated with the hand-made fixture lock.
# Run: nix-instantiate --eval --strict tests/pkgs/pkgs.nix
# Evaluates to true or throws naming the failed checks.
let
  pkgs = import ../../pkgs { lockFile = ./lock-fixture.json; };
  inherit (pkgs) lib;
  lock = lib.importJSON ./lock-fixture.json;
  drvEnv = drv: drv.drvAttrs;
  words = s: builtins.filter (x: x != "" && builtins.isString x) (builtins.split " " s);

  finalApp = pkgs.stdenv.mkDerivation (finalAttrs: {
    pname = "fin";
    version = "1.0";
    dontUnpack = true;
    installPhase = "mkdir -p $out; echo ${finalAttrs.pname} > $out/n";
    passthru.tests = { x = 1; };
    meta.description = "final attrs";
  });
  recApp = pkgs.stdenv.mkDerivation rec {
    name = "api-code";
    src = ./.;
    buildPhase = "";
    installPhase = "mkdir -p $out/app && cp -rT $src $out/app";
  };
  overridden = finalApp.overrideAttrs (old: { version = "2.0"; });
  overriddenFinal = finalApp.overrideAttrs (final: prev: { pname = prev.pname + "x"; });
  multi = pkgs.stdenv.mkDerivation { name = "multi"; outputs = [ "out" "dev" ]; dontUnpack = true; installPhase = "mkdir -p $out $dev"; };

  pyenv = pkgs.python311.withPackages (ps: [ ps.fastapi ps.uvicorn ]);
  seedKeys = [ "annotated-types" "anyio" "click" "fastapi" "h11" "idna" "pydantic" "pydantic-core" "sniffio" "starlette" "typing-extensions" "uvicorn" ];

  img = pkgs.dockerTools.buildImage {
    name = "Simple-Python-API";
    tag = "latest";
    copyToRoot = pkgs.buildEnv { name = "image-root"; paths = [ recApp pyenv ]; pathsToLink = [ "/app" "/bin" ]; };
    runAsRoot = "mkdir -p /app";
    config = { Cmd = [ "uvicorn" "main:app" ]; WorkingDir = "/app"; };
  };
  imgNoTag = pkgs.dockerTools.buildImage { name = "x"; contents = pkgs.bash; };
  layered = pkgs.dockerTools.buildLayeredImage { name = "L"; contents = [ pkgs.bash ]; maxLayers = 20; compressor = "zstd"; extraCommands = "mkdir tmp"; };
  streamed = pkgs.dockerTools.streamLayeredImage { name = "S"; contents = [ pkgs.bash ]; };

  fetched = pkgs.fetchurl { url = "https://example.org/a~b.tar.gz"; sha256 = "0000000000000000000000000000000000000000000000000000"; };
  fetchedSri = pkgs.fetchurl { urls = [ "https://example.org/x.txt" ]; hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; };

  checks = {
    # attribute names of the set
    names = builtins.all (n: pkgs ? ${n}) [
      "lib" "callPackage" "stdenv" "stdenvNoCC" "fetchurl" "runCommand" "runCommandLocal" "writeText"
      "writeTextFile" "writeShellScript" "writeShellScriptBin" "symlinkJoin" "buildEnv" "dockerTools"
      "bash" "bashInteractive" "coreutils" "findutils" "gnused" "gnugrep" "gawk" "gnutar" "gzip" "xz"
      "diffutils" "patch" "glibc" "openssl" "zlib" "cacert" "tzdata" "curl" "python311" "python3"
      "python311Packages" "python3Packages" "system" "config" "pkgs" "path" ];
    version = pkgs.lib.version == "rnix-pkgs 0.1";
    pkgsSelf = pkgs.pkgs.bash.drvPath == pkgs.bash.drvPath;
    bashInteractive = pkgs.bashInteractive.drvPath == pkgs.bash.drvPath;
    python3 = pkgs.python3.drvPath == pkgs.python311.drvPath && pkgs.python3Packages.fastapi.drvPath == pkgs.python311.pkgs.fastapi.drvPath;

    # Debian packages
    bashDrv = (drvEnv pkgs.bash).builder == "builtin:rnix-deb" && pkgs.bash.system == "x86_64-linux"
      && pkgs.bash.name == "bash-5.2.15-2+b13" && pkgs.bash.version == "5.2.15";
    bashDebs = map (d: d.name) (drvEnv pkgs.bash).debs == [ "bash_5.2.15-2+b13_amd64.deb" ];
    bashDeps = map (d: d.name) (drvEnv pkgs.bash).deps == [ "glibc-2.36-9+deb12u14" "libtinfo6-6.4-4" ];
    glibcEnv = (drvEnv pkgs.glibc).glibc == "" && (drvEnv pkgs.bash).glibc.name == "glibc-2.36-9+deb12u14"
      && (drvEnv pkgs.glibc).deps == [ ] && pkgs.glibc.name == "glibc-2.36-9+deb12u14";
    debFetch =
      let f = builtins.head (drvEnv pkgs.openssl).debs; in
      f.drvAttrs.builder == "builtin:fetchurl" && f.drvAttrs.system == "builtin"
      && f.drvAttrs.url == "mirror://debian-security/${lock.debian.packages.openssl.path}"
      && f.drvAttrs.outputHash == lock.debian.packages.openssl.sha256 && f.drvAttrs.outputHashAlgo == "sha256"
      && f.drvAttrs.outputHashMode == "flat" && f.name == "openssl_3.0.22-1_deb12u2_amd64.deb";
    getExe = lib.getExe pkgs.xz == "${pkgs.xz}/bin/xz" && lib.getExe pkgs.bash == "${pkgs.bash}/bin/bash";
    tildeName = pkgs.openssl.name == "openssl-3.0.22-1_deb12u2";
    opensslLib = lib.makeLibraryPath [ pkgs.openssl ] == "${pkgs.debianStorePaths.libssl3}/lib";
    epochDropped = pkgs.zlib.name == "zlib1g-1.2.13.dfsg-1" && pkgs.diffutils.name == "diffutils-3.8-4";
    python311Group = pkgs.python311.name == "python3-3.11.2-6+deb12u9"
      && map (d: d.name) (drvEnv pkgs.python311).debs == [
        "python3.11-minimal_3.11.2-6+deb12u9_amd64.deb" "libpython3.11-minimal_3.11.2-6+deb12u9_amd64.deb"
        "libpython3.11-stdlib_3.11.2-6+deb12u9_amd64.deb" "python3-minimal_3.11.2-1+b1_amd64.deb" ];
    # group deps: union of members' deps minus the members; closure is transitive and sorted
    python311Deps =
      let names = map (d: d.name) (drvEnv pkgs.python311).deps; in
      !(builtins.any (n: lib.hasPrefix "libpython3.11" n || lib.hasPrefix "python3-minimal" n) names)
      && builtins.elem "libgssapi-krb5-2-1.20.1-2+deb12u5" names # via libtirpc3 (transitive)
      && builtins.elem "glibc-2.36-9+deb12u14" names
      && names == lib.unique names;
    debianMissing = !(builtins.tryEval (pkgs.debianStorePaths.nosuchdeb or (throw "x"))).success;

    # stdenv
    stdenvDrv = pkgs.stdenv.name == "stdenv-linux" && builtins.length pkgs.stdenv.initialPath == 11
      && lib.hasSuffix "/bin/bash" pkgs.stdenv.shell;
    mkDerivationRec = recApp.name == "api-code" && (drvEnv recApp).builder == "${pkgs.bash}/bin/bash"
      && builtins.length (drvEnv recApp).args == 2 && builtins.elemAt (drvEnv recApp).args 0 == "-e"
      && (drvEnv recApp).buildPhase == "" && (drvEnv recApp).stdenv == pkgs.stdenv
      && recApp.system == "x86_64-linux";
    finalAttrs = finalApp.name == "fin-1.0" && lib.hasInfix "echo fin >" (drvEnv finalApp).installPhase
      && finalApp.passthru.tests.x == 1 && finalApp.tests.x == 1 && finalApp.meta.description == "final attrs"
      && finalApp.pname == "fin" && finalApp.version == "1.0";
    overrideAttrs = overridden.name == "fin-2.0" && overriddenFinal.name == "finx-1.0"
      && lib.hasInfix "echo finx >" (drvEnv overriddenFinal).installPhase;
    outputs = multi.outputs == [ "out" "dev" ] && multi.dev.outputName == "dev" && lib.hasSuffix "-multi-dev" multi.dev.outPath;
    nameRequired = !(builtins.tryEval (pkgs.stdenv.mkDerivation { dontUnpack = true; }).drvPath).success;
    callPackage =
      let r = pkgs.callPackage ({ stdenv, bash, extra ? "d" }: stdenv.mkDerivation { name = "cp-${extra}"; dontUnpack = true; installPhase = "touch $out"; }) { };
      in r.name == "cp-d" && (r.override { extra = "e"; }).name == "cp-e"
        && (r.overrideAttrs (o: { name = "cp-attrs"; })).name == "cp-attrs";
    callPackageFile = (pkgs.callPackage ./callpackage-example.nix { greeting = "hey"; }).name == "greeting-hey";

    # trivial builders
    runCommand = let r = pkgs.runCommand "rc" { FOO = "1"; } "echo $FOO > $out"; in
      r.name == "rc" && (drvEnv r).buildCommand == "echo $FOO > $out" && (drvEnv r).FOO == "1";
    runCommandLocal = (drvEnv (pkgs.runCommandLocal "rl" { } "touch $out")).preferLocalBuild;
    writeText = let w = pkgs.writeText "w.txt" "hello"; in w.name == "w.txt" && (drvEnv w).text == "hello" && (drvEnv w).executable == false;
    writeTextFile = let w = pkgs.writeTextFile { name = "wt"; text = "x"; executable = true; destination = "/bin/wt"; }; in
      (drvEnv w).destination == "/bin/wt" && (drvEnv w).executable && w.meta.mainProgram == "wt";
    writeShellScript = let w = pkgs.writeShellScript "s" "echo hi"; in lib.hasPrefix "#!${pkgs.bash}/bin/bash\n" (drvEnv w).text;
    writeShellScriptBin = let w = pkgs.writeShellScriptBin "hi" "echo hi"; in (drvEnv w).destination == "/bin/hi" && (drvEnv w).executable;
    symlinkJoin = let j = pkgs.symlinkJoin { name = "j"; paths = [ pkgs.bash pkgs.coreutils ]; }; in
      j.name == "j" && (drvEnv j).paths == [ "${pkgs.bash}" "${pkgs.coreutils}" ];

    mkShell = (pkgs.mkShell { packages = [ pkgs.bash ]; shellHook = "echo hi"; }).drvAttrs.nativeBuildInputs == [ pkgs.bash ];
    substituteAll = (pkgs.substituteAll { src = ./callpackage-example.nix; greeting = "x"; }).drvAttrs.greeting == "x";
    replaceVars = lib.hasInfix "--replace-fail @a@ 1" (pkgs.replaceVars ./callpackage-example.nix { a = 1; }).drvAttrs.substArgs;
    # every nixpkgs name exists; one whose package the lock lacks fails when used
    gnumakeNotLocked = pkgs ? gnumake && !(builtins.tryEval pkgs.gnumake.drvPath).success;

    # fetchurl
    fetchurl = fetched.drvAttrs.builder == "builtin:fetchurl" && fetched.drvAttrs.system == "builtin"
      && fetched.name == "a-b.tar.gz" && fetched.drvAttrs.outputHashAlgo == "sha256"
      && fetchedSri.drvAttrs.outputHashAlgo == "" && fetchedSri.name == "x.txt"
      && fetchedSri.drvAttrs.url == "https://example.org/x.txt";
    fetchurlNoHash = !(builtins.tryEval (pkgs.fetchurl { url = "https://example.org/x"; }).drvPath).success;

    # buildEnv
    buildEnv = let e = pkgs.buildEnv { name = "env"; paths = [ pkgs.bash ]; pathsToLink = [ "/bin" ]; ignoreCollisions = true; postBuild = "true"; }; in
      (drvEnv e).builder == "builtin:rnix-buildenv" && (drvEnv e).pathsToLink == [ "/bin" ]
      && (drvEnv e).ignoreCollisions == "1" && (drvEnv e).postBuild == "true"
      && (drvEnv e).paths == [ pkgs.bash ] && lib.hasSuffix "/bin/bash" (drvEnv e).shell;
    buildEnvExtraOutputs = let e = pkgs.buildEnv { name = "env2"; paths = [ multi ]; extraOutputsToInstall = [ "dev" ]; }; in
      builtins.length (drvEnv e).paths == 2;

    # python
    pythonAttrs = pkgs.python311.pythonVersion == "3.11" && pkgs.python311.version == "3.11.2"
      && pkgs.python311.sitePackages == "lib/python3.11/site-packages" && pkgs.python311Packages.python.drvPath == pkgs.python311.drvPath;
    pythonPackageNames = builtins.all (n: pkgs.python3Packages ? ${n}) seedKeys && pkgs.python3Packages ? typing_extensions;
    pythonPackage = pkgs.python3Packages.pydantic-core.version == "2.10.1" && pkgs.python3Packages.pydantic-core.pname == "pydantic-core"
      && (drvEnv pkgs.python3Packages.pydantic-core).url == "mirror://pypi/pydantic-core/${lock.pypi.pydantic-core.filename}"
      && map (p: p.pname) pkgs.python3Packages.fastapi.propagatedBuildInputs == [ "anyio" "pydantic" "starlette" "typing-extensions" ];
    withPackages = (drvEnv pyenv).builder == "builtin:rnix-python-env" && (drvEnv pyenv).pythonVersion == "3.11"
      && (drvEnv pyenv).python.drvPath == pkgs.python311.drvPath
      && map (w: w.name) (drvEnv pyenv).wheels == map (k: lock.pypi.${k}.filename) seedKeys
      && pyenv.name == "python3-3.11.2-6+deb12u9-env" && lib.hasSuffix "/bin/python3.11" pyenv.interpreter;
    withPackagesDeps = let names = map (d: d.name) (drvEnv pyenv).deps; in
      builtins.elem "libgcc-s1-12.2.0-14+deb12u1" names && builtins.elem "glibc-2.36-9+deb12u14" names
      && builtins.elem "python3-3.11.2-6+deb12u9" names && builtins.elem "libstdc++6-12.2.0-14+deb12u1" names;
    withPackagesBad = !(builtins.tryEval (pkgs.python3.withPackages (ps: [ pkgs.bash ])).drvPath).success;
    pythonBuildEnv = (pkgs.python3.buildEnv.override { extraLibs = [ pkgs.python3Packages.idna ]; }).drvAttrs.wheels != [ ];

    # dockerTools
    buildImage = let e = drvEnv img; in
      img.name == "docker-image-Simple-Python-API.tar.gz" && e.builder == "builtin:rnix-docker-image"
      && e.imageName == "simple-python-api" && e.imageTag == "latest" && img.imageTag == "latest"
      && e.runAsRoot == "set -e\nexport PATH=${pkgs.coreutils}/bin:/bin\nmkdir -p /app\n" && e.extraCommands == "" && builtins.fromJSON e.config == { Cmd = [ "uvicorn" "main:app" ]; WorkingDir = "/app"; }
      && e.created == "1970-01-01T00:00:01Z" && e.compressor == "gz" && e.layered == "0" && e.format == "docker"
      && lib.hasSuffix "/bin/bash" e.shell && builtins.length e.copyToRoot == 1 && e.architecture == "amd64";
    buildImageNoTag = (drvEnv imgNoTag).imageTag == "" && builtins.stringLength imgNoTag.imageTag == 32
      && lib.hasInfix imgNoTag.imageTag imgNoTag.outPath && (drvEnv imgNoTag).copyToRoot == [ pkgs.bash ];
    layered = layered.name == "L.tar.zst" && (drvEnv layered).layered == "1" && (drvEnv layered).maxLayers == "20"
      && (drvEnv layered).imageName == "l";
    extraCommands = lib.hasInfix "${pkgs.gnused}/bin" (drvEnv layered).extraCommands && lib.hasSuffix "\nmkdir tmp\n" (drvEnv layered).extraCommands;
    streamed = streamed.name == "stream-S" && (drvEnv streamed).stream == "1" && (drvEnv streamed).compressor == "none";
    badCompressor = !(builtins.tryEval (pkgs.dockerTools.buildImage { name = "x"; compressor = "lz4"; }).drvPath).success;
    dockerHelpers = builtins.all (n: pkgs.dockerTools ? ${n}) [ "binSh" "usrBinEnv" "caCertificates" "fakeNss" "buildImage" "buildLayeredImage" "streamLayeredImage" ];

    # overlays, as nixpkgs applies them
    overlays =
      let
        p = import ../../pkgs {
          lockFile = ./lock-fixture.json;
          overlays = [
            (final: prev: { greeting = "hi"; msg = final.greeting + "!"; })
            (final: prev: { greeting = prev.greeting + " there"; bash = prev.bash // { marker = true; }; })
          ];
        };
      in
      p.msg == "hi there!" && p.bash.marker && p.bashInteractive.marker;
    config = (import ../../pkgs { lockFile = ./lock-fixture.json; config = { allowUnfree = true; }; }).config.allowUnfree;
    systemArg = (import ../../pkgs { lockFile = ./lock-fixture.json; system = "x86_64-linux"; }).system == "x86_64-linux";
  };
  failed = builtins.filter (n: !checks.${n}) (builtins.attrNames checks);
in
if failed == [ ] then true
else throw "package set checks failed: ${builtins.concatStringsSep ", " failed}"
