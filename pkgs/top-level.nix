# The packages of rnix-pkgs, as a function of the final package set (`self`,
# after overlays), like nixpkgs' all-packages.nix.
{ lib, lock, system, config, path, indexDir ? null }:

self:

let
  debian = import ./debian.nix {
    inherit lib lock system indexDir;
    inherit (self) fetchurl;
  };

  # Debian-backed packages under nixpkgs' names (pkgs/debian-names.nix), plus a few
  # names the earlier tables used.
  debianNames = import ./debian-names.nix // {
    glibc = "libc6";
    bzip2-bin = "bzip2";
    sqlite-bin = "sqlite3";
  };
  debianPackages = builtins.mapAttrs (_: debs:
    if builtins.isList debs then joinDebian debs else debian.get debs) debianNames;

  # Several Debian packages as one (nixpkgs' redis has redis-cli, Debian's redis-tools).
  joinDebian = debs:
    let
      main = debian.get (lib.head debs);
      joined = self.buildEnv {
        name = main.name;
        paths = map debian.get debs;
        ignoreCollisions = true;
      };
    in
    joined // {
      inherit (main) pname version debianVersion meta;
      debianPackages = lib.concatMap (d: (debian.get d).debianPackages) debs;
      passthru = { };
    };

  # nixpkgs names that Debian bookworm has no package for: one clear error each.
  unavailable = builtins.listToAttrs (map
    (n: {
      name = n;
      value =
        let s = debian.suggestions (lib.head (lib.splitString "_" n)); in
        throw ("rnix-pkgs: nixpkgs' `${n}' has no counterpart in Debian bookworm, which rnix-pkgs is built from"
          + (if s == [ ] then "" else "; close Debian packages (pkgs.debian.<name>): ${lib.concatStringsSep ", " s}"));
    })
    [
      "julia" "traefik" "consul" "grafana" "telegraf" "fluent-bit" "terraform" "helm" "k9s"
      "nodejs_18" "python312" "python313" "go_1_21" "go_1_22" "go_1_23"
      "openjdk21" "jdk21" "postgresql_16" "postgresql_17" "gcc13" "gcc14" "ruby_3_3" "php83"
    ]);

  pythonSet = import ./python.nix {
    inherit lib lock system debian;
    inherit (self) fetchurl;
  };

  trivial = import ./build-support/trivial-builders.nix {
    inherit lib;
    inherit (self) stdenv stdenvNoCC bash coreutils;
  };

  platform = self.stdenv.hostPlatform;

  stdenvArgs = {
    inherit lib system;
    inherit (self) bash coreutils;
  } // builtins.mapAttrs (name: deb: if debian.has deb then self.${name} else null) {
    findutils = "findutils";
    diffutils = "diffutils";
    gnused = "sed";
    gnugrep = "grep";
    gawk = "gawk";
    gnutar = "tar";
    gzip = "gzip";
    xz = "xz-utils";
    gnupatch = "patch";
    gnumake = "make";
  };
  hasCompiler = builtins.all debian.has [ "gcc-12" "libc6-dev" "linux-libc-dev" "binutils" "libstdc++6" "libgcc-s1" "patchelf" ];
in
unavailable
// debianPackages
// trivial
// {
  inherit lib config path system;
  pkgs = self;

  # nixpkgs' platform attributes
  buildPlatform = platform;
  hostPlatform = platform;
  targetPlatform = platform;

  callPackage = self.newScope { };
  callPackages = lib.callPackagesWith self;
  newScope = extra: lib.callPackageWith (self // extra);

  recurseIntoAttrs = lib.recurseIntoAttrs;

  # The stdenv's tools: bash and coreutils always; the others when they are
  # locked (the lock should hold all of them; see issue 6).
  stdenvNoCC = import ./stdenv stdenvArgs;
  # With the C compiler when its packages are there (a test lock may lack them).
  stdenv = import ./stdenv (stdenvArgs // lib.optionalAttrs hasCompiler { cc = self.gcc; });

  # stdenv.cc: Debian's GCC 12 behind nixpkgs-style wrappers.
  gcc = import ./build-support/cc-wrapper {
    inherit lib;
    inherit (self) runCommand bash;
    gcc = debian.get "gcc-12";
    glibc = debian.get "libc6";
    libcDev = debian.get "libc6-dev";
    linuxHeaders = debian.get "linux-libc-dev";
    binutils = debian.get "binutils";
    libstdcxx = debian.get "libstdc++6";
    libgccs = debian.get "libgcc-s1";
    patchelf = debian.get "patchelf";
  };
  gcc12 = self.gcc;
  gccStdenv = self.stdenv;
  gcc-unwrapped = debian.get "gcc-12";
  binutils = debian.get "binutils";
  binutils-unwrapped = debian.get "binutils";
  glibc = debian.get "libc6" // { dev = debian.get "libc6-dev"; };
  linuxHeaders = debian.get "linux-libc-dev";

  fetchurl = import ./build-support/fetchurl.nix { inherit lib; };
  inherit (import ./build-support/fetchzip.nix {
    inherit lib;
    inherit (self) stdenvNoCC curl cacert python3;
  }) fetchzip fetchFromGitHub fetchFromGitLab;

  buildEnv = import ./build-support/buildenv.nix {
    inherit lib system;
    shell = self.runtimeShell;
  };

  dockerTools = lib.recurseIntoAttrs (import ./build-support/docker.nix {
    inherit lib system;
    inherit (self) stdenv bash coreutils cacert runCommand writeTextDir symlinkJoin buildEnv shadow;
  });

  runtimeShell = "${self.runtimeShellPackage}/bin/bash";
  runtimeShellPackage = self.bash;

  # nixpkgs' openssl has its libraries in the `out`/`lib` outputs; Debian
  # ships them as libssl3 (so `lib.getLib openssl` / makeLibraryPath work).
  openssl = debian.get "openssl"
    // lib.optionalAttrs (debian.has "libssl3") { lib = debian.get "libssl3"; };

  # nixpkgs' nginx has its configuration files in conf/ (`include ${nginx}/conf/mime.types`);
  # Debian ships them in nginx-common.
  nginx =
    let main = debian.get "nginx"; in
    self.buildEnv {
      name = main.name;
      paths = [ main (debian.get "nginx-common") ];
      nativeBuildInputs = [ self.coreutils ];
      postBuild = "ln -s etc/nginx \"$out/conf\"";
    } // {
      inherit (main) pname version debianVersion meta;
      debianPackages = [ "nginx" "nginx-common" ];
    };

  # Programs that find data through compiled-in /usr paths but honour an environment
  # variable: every program of `main` (or `progs`) becomes a wrapper exporting `env` first and
  # putting the directories of `prefix` in front of a search path variable (as nixpkgs'
  # makeWrapper --set / --prefix); everything else of `main` is linked.
  wrapPrograms = { main, env ? { }, prefix ? { }, progs ? null, extraCommands ? "" }:
    self.runCommand main.name {
      passthru = { inherit (main) pname version; unwrapped = main; }
        // lib.optionalAttrs (main ? debianVersion) { inherit (main) debianVersion; };
    } ''
      mkdir -p $out/bin
      for d in ${main}/*; do
        if [ "$(basename "$d")" != bin ]; then ln -s "$d" $out/; fi
      done
      ${extraCommands}
      for p in ${main}/bin/*; do
        n=$(basename "$p")
        ${lib.optionalString (progs != null) ''
          case " ${lib.concatStringsSep " " progs} " in *" $n "*) ;; *) ln -s "$p" $out/bin/; continue ;; esac
        ''}
        {
          echo "#! ${self.bash}/bin/bash"
          ${lib.concatStringsSep "\n" (lib.mapAttrsToList (k: v: "echo ${lib.escapeShellArg "export ${k}=${lib.escapeShellArg v}"}") env)}
          ${lib.concatStringsSep "\n" (lib.mapAttrsToList (k: dirs: "echo ${lib.escapeShellArg "export ${k}=\"${lib.concatStringsSep ":" dirs}\${${k}:+:\$${k}}\""}") prefix)}
          echo "exec -a \"\$0\" $p \"\$@\""
        } > $out/bin/$n
        chmod +x $out/bin/$n
      done
    '' // { inherit (main) meta; };

  # file: libmagic's database.
  file = self.wrapPrograms {
    main = debian.get "file";
    env.MAGIC = "${debian.get "libmagic-mgc"}/lib/file/magic.mgc";
  };
  # pandoc: its data files (templates, abbreviations).
  pandoc = self.wrapPrograms {
    main = debian.get "pandoc";
    env.pandoc_datadir = "${debian.get "pandoc-data"}/share/pandoc";
  };
  # maven: the JDK it runs on (Debian's mvn finds java through JAVA_HOME or /usr/bin/java).
  maven = self.wrapPrograms {
    main = debian.get "maven";
    env.JAVA_HOME = "${debian.get "openjdk-17-jdk-headless"}/lib/jvm/java-17-openjdk-amd64";
  };
  # gdb: the embedded Python's standard library.
  gdb = self.wrapPrograms {
    main = debian.get "gdb";
    env.PYTHONHOME = "${debian.get "python3.11-minimal"}";
  };
  # graphviz: the plugins and their configuration (which Debian's postinst makes with
  # `dot -c`), in the output.
  graphviz =
    let gvc = debian.get "libgvc6"; main = debian.get "graphviz"; in
    self.wrapPrograms {
      inherit main;
      env.GVBINDIR = "${placeholder "out"}/lib/graphviz";
      extraCommands = ''
        rm -f $out/lib
        mkdir -p $out/lib/graphviz
        for f in ${gvc}/lib/graphviz/*; do ln -s "$f" $out/lib/graphviz/; done
        GVBINDIR=$out/lib/graphviz ${main}/bin/dot -c
      '';
    };

  # Perl: the interpreter is perl-base's, its libraries are spread over four packages.
  perl =
    let
      perlPkg = debian.get "perl";
      base = debian.get "perl-base";
      libperl = debian.get "libperl5.36";
      modules = debian.get "perl-modules-5.36";
      joined = self.buildEnv {
        name = perlPkg.name;
        paths = [ base perlPkg ];
        ignoreCollisions = true;
      } // { inherit (perlPkg) pname version debianVersion meta; };
    in
    self.wrapPrograms {
      main = joined;
      progs = [ "perl" ];
      prefix.PERL5LIB = [ "${perlPkg}/etc/perl" "${base}/lib/perl-base" "${libperl}/lib/perl/5.36"
        "${modules}/share/perl/5.36" "${perlPkg}/share/perl5" ];
    };

  # Ruby 3.1: the standard library in lib/ruby/3.1.0 of Debian's ruby group.
  ruby =
    let r = debian.get "ruby3.1"; in
    self.wrapPrograms {
      main = r;
      progs = [ "ruby" "ruby3.1" ];
      prefix.RUBYLIB = [ "${r}/lib/ruby/vendor_ruby/3.1.0" "${r}/lib/ruby/vendor_ruby" "${r}/lib/ruby/3.1.0" ];
      prefix.GEM_PATH = [ "${r}/lib/ruby/gems/3.1.0" ];
    };
  ruby_3_1 = self.ruby;

  nodejsVersions = import ./nodejs.nix {
    inherit lib;
    inherit (self) runCommand fetchurl unzip patchelf;
    glibc = debian.get "libc6";
    libstdcxx = debian.get "libstdc++6";
    libgccs = debian.get "libgcc-s1";
  };
  nodejs_20 = self.nodejsVersions."20";
  nodejs_22 = self.nodejsVersions."22";
  nodejs_24 = self.nodejsVersions."24";
  nodejs = self.nodejs_22;
  nodejs-slim = self.nodejs;
  nodejs-slim_22 = self.nodejs_22;

  # Debian's cmake with nixpkgs' setup hook (cmake configure phase, CMAKE_PREFIX_PATH).
  cmake =
    let main = debian.get "cmake"; in
    self.runCommand main.name {
      passthru = { inherit (main) pname version debianVersion debianPackages; unwrapped = main; };
    } ''
      mkdir -p $out/nix-support
      for d in ${main}/*; do ln -s "$d" $out/; done
      cp ${./build-support/setup-hooks/cmake.sh} $out/nix-support/setup-hook
    '' // { inherit (main) meta; };

  bashInteractive = self.bash;
  patch = self.gnupatch;
  xz-utils = self.xz;

  # nixpkgs' mkShell: a derivation for `nix-shell`; building it fails on purpose.
  mkShell =
    { name ? "nix-shell", packages ? [ ], inputsFrom ? [ ], buildInputs ? [ ], nativeBuildInputs ? [ ]
    , propagatedBuildInputs ? [ ], propagatedNativeBuildInputs ? [ ], shellHook ? "", ... }@attrs:
    let
      mergeInputs = n: (attrs.${n} or [ ]) ++ lib.subtractLists inputsFrom (lib.flatten (lib.catAttrs n inputsFrom));
    in
    self.stdenv.mkDerivation ((builtins.removeAttrs attrs [ "name" "packages" "inputsFrom" ]) // {
      inherit name shellHook;
      buildInputs = mergeInputs "buildInputs";
      nativeBuildInputs = packages ++ mergeInputs "nativeBuildInputs";
      propagatedBuildInputs = mergeInputs "propagatedBuildInputs";
      propagatedNativeBuildInputs = mergeInputs "propagatedNativeBuildInputs";
      phases = [ "nobuildPhase" ];
      nobuildPhase = ''
        echo
        echo "This derivation is not meant to be built, aborting";
        echo
        exit 1
      '';
    });

  # substituteAll { src, name ? ..., <var> = <value>; ... }: @var@ replaced.
  substituteAll = { src, name ? baseNameOf (toString src), isExecutable ? false, ... }@args:
    self.runCommand (lib.sanitizeDerivationName name) (builtins.removeAttrs args [ "name" ] // { inherit src isExecutable; }) ''
      substituteAll "$src" "$out"
      if [ -n "$isExecutable" ]; then chmod +x "$out"; fi
    '';
  # replaceVars src { var = value; }: every @var@ must exist in src.
  replaceVars = src: replacements:
    self.runCommand (lib.sanitizeDerivationName (baseNameOf (toString src))) {
      inherit src;
      substArgs = lib.concatStringsSep " " (lib.mapAttrsToList
        (n: v: "--replace-fail ${lib.escapeShellArg "@${n}@"} ${lib.escapeShellArg (toString v)}") replacements);
    } ''
      eval substitute "$src" "$out" $substArgs
    '';

  # nixpkgs' cacert: the Mozilla bundle at etc/ssl/certs/ca-bundle.crt.
  cacert = self.runCommand "nss-cacert-${debian.storeVersion (debian.get "ca-certificates").debianVersion}"
    {
      certs = debian.get "ca-certificates";
      passthru = { debianPackage = debian.get "ca-certificates"; };
    } ''
    mkdir -p $out/etc/ssl/certs
    cat $certs/share/ca-certificates/*/*.crt > $out/etc/ssl/certs/ca-bundle.crt
    ln -s ca-bundle.crt $out/etc/ssl/certs/ca-certificates.crt
  '';

  python311 = pythonSet.makePython (debian.get "python3.11-minimal");
  python3 = self.python311;
  python = self.python3;
  python311Packages = self.python311.pkgs;
  python3Packages = self.python3.pkgs;
  pythonPackages = self.python3Packages;

  # Python packages from locked wheels, keyed by their PEP 503 name.
  pypiWheels = pythonSet.wheels;
  # Every Debian bookworm package by its Debian name: `pkgs.debian.<name>`.
  debian = debian.packages;
  # Earlier name of `debian`.
  debianStorePaths = debian.packages;
}
