{ stdenv, greeting }:
stdenv.mkDerivation {
  name = "greeting-${greeting}";
  dontUnpack = true;
  installPhase = "echo ${greeting} > $out";
}
