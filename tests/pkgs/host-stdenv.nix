# The package set's stdenv and trivial builders, with the HOST's tools in
# place of the Debian packages (every tool "package" is /usr), so that real
# Nix can build them (nix-build --option sandbox false). Each attribute is a
# small build whose result the test checks.
let
  lib = import ../../pkgs/lib;
  system = builtins.currentSystem;
  host = "/usr";
  stdenv = import ../../pkgs/stdenv {
    inherit lib system;
    bash = host; coreutils = host; findutils = host; diffutils = host; gnused = host; gnugrep = host;
    gawk = host; gnutar = host; gzip = host; xz = host; gnupatch = host;
  };
  trivial = import ../../pkgs/build-support/trivial-builders.nix {
    inherit lib stdenv;
    stdenvNoCC = stdenv;
    bash = host;
    coreutils = host;
  };
  fetchers = import ../../pkgs/build-support/fetchzip.nix {
    inherit lib;
    stdenvNoCC = stdenv;
    curl = host;
    cacert = host;
    python3 = host;
  };
  src = builtins.path { name = "api-code"; path = ../../fixtures/simple-python-api; filter = p: t: !(lib.hasSuffix ".nix" p); };
in
rec {
  # The seed's app.
  app = stdenv.mkDerivation rec {
    name = "api-code";
    inherit src;
    buildPhase = "";
    installPhase = "mkdir -p $out/app && cp -rT $src $out/app";
  };

  # finalAttrs, pname/version, passthru, hooks, two outputs.
  final = stdenv.mkDerivation (finalAttrs: {
    pname = "final";
    version = "1.2";
    outputs = [ "out" "doc" ];
    dontUnpack = true;
    preInstall = "echo pre > pre.txt";
    installPhase = ''
      runHook preInstall
      mkdir -p $out $doc
      echo ${finalAttrs.pname}-${finalAttrs.version} > $out/name
      cp pre.txt $out/
      echo documentation > $doc/README
      runHook postInstall
    '';
    passthru.greeting = "hello";
  });

  # fetchzip of a local archive (file:// URL); the test computes the hash.
  fetchzip = { url, hash }: fetchers.fetchzip { inherit url hash; };

  text = trivial.writeText "greeting.txt" "hello\n";
  script = trivial.writeShellScriptBin "greet" "echo hi from $0";
  joined = trivial.symlinkJoin { name = "joined"; paths = [ app final script ]; };
  command = trivial.runCommand "command" { FOO = "bar"; nativeBuildInputs = [ script ]; } ''
    mkdir -p $out
    echo $FOO > $out/foo
    greet > $out/greet
  '';
}
