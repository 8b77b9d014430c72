# The standard environment: a store path holding `setup` (setup.sh with the
# initial PATH baked in), plus `mkDerivation`. `cc` (the cc-wrapper; null for
# stdenvNoCC) is activated first in every build, as nixpkgs' defaultNativeBuildInputs.
# bash and coreutils are required; a tool given as null (not in the lock) is
# left out of the initial PATH.
{ lib, system, bash, coreutils, findutils ? null, diffutils ? null, gnused ? null, gnugrep ? null
, gawk ? null, gnutar ? null, gzip ? null, xz ? null, gnupatch ? null, gnumake ? null
, cc ? null }:
let
  initialPath = builtins.filter (x: x != null)
    [ coreutils findutils diffutils gnused gnugrep gawk gnutar gzip xz gnupatch gnumake bash ];
  shell = "${bash}/bin/bash";

  platform = {
    inherit system;
    config = "x86_64-unknown-linux-gnu";
    parsed = { cpu = { name = "x86_64"; bits = 64; }; kernel = { name = "linux"; }; };
    isLinux = true; isDarwin = false; isx86_64 = true; isAarch64 = false; isx86 = true;
    isi686 = false; is64bit = true; isStatic = false; isMusl = false; isGnu = true;
    isWindows = false; isFreeBSD = false; isUnix = true;
    linuxArch = "x86_64"; uname = { system = "Linux"; processor = "x86_64"; };
    canExecute = other: (other.system or other) == system;
    emulatorAvailable = _: true;
    emulator = _: "";
    extensions = { sharedLibrary = ".so"; executable = ""; };
  };

  stdenvDrv = derivation {
    name = "stdenv-linux";
    inherit system initialPath shell;
    builder = shell;
    args = [ "-e" ./builder.sh ];
    setup = ./setup.sh;
    defaultNativeBuildInputs = if cc == null then [ ] else [ cc ];
  };

  stdenv = stdenvDrv // {
    inherit shell initialPath system lib;
    mkDerivation = import ./make-derivation.nix { inherit lib stdenv shell system; };
    hostPlatform = platform;
    buildPlatform = platform;
    targetPlatform = platform;
    isLinux = true;
    isDarwin = false;
    isx86_64 = true;
    isAarch64 = false;
    inherit cc;
    hasCC = cc != null;
    # nixpkgs' `stdenv.shellPackage`
    shellPackage = bash;
  };
in
stdenv
