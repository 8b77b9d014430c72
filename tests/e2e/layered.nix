# The seed app as a layered image (and, with format = "oci", as an OCI archive).
{ format ? "docker", layered ? true }:
let
  pkgs = import <nixpkgs> { };
  app = pkgs.stdenv.mkDerivation rec {
    name = "api-code";
    src = builtins.path {
      name = "${name}";
      path = builtins.filterSource (path: type: baseNameOf path == "main.py") ./.;
    };
    buildPhase = "";
    installPhase = "mkdir -p $out/app && cp -rT $src $out/app";
  };
  python = pkgs.python311.withPackages (ps: [ ps.fastapi ps.uvicorn ]);
  root = pkgs.buildEnv {
    name = "image-root";
    paths = [ app python ];
    pathsToLink = [ "/app" "/bin" ];
  };
  config = {
    Cmd = [ "uvicorn" "main:app" ];
    Env = [ "UVICORN_HOST=0.0.0.0" "UVICORN_PORT=5000" ];
    WorkingDir = "/app";
  };
in
if layered then
  pkgs.dockerTools.buildLayeredImage {
    name = "rnix-e2e-layered";
    tag = "latest";
    contents = [ root ];
    inherit config;
  }
else
  pkgs.dockerTools.buildImage {
    name = "rnix-e2e-oci";
    tag = "latest";
    copyToRoot = root;
    inherit config format;
  }
