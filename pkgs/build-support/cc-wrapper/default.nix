# stdenv.cc: Debian's GCC 12 (one store path with cpp, g++, libgcc and libstdc++'s headers),
# binutils and the C library's development files behind wrapper scripts (cc-wrapper.sh) and
# a setup hook (setup-hook.sh), like nixpkgs' cc-wrapper.
{ lib, runCommand, bash, gcc, glibc, libcDev, linuxHeaders, binutils, libstdcxx, libgccs, patchelf }:

let
  subst = prog: extraRpath: ''
    sed -e "s|@shell@|${bash}/bin/bash|g" \
        -e "s|@gcc@|${gcc}|g" \
        -e "s|@glibc@|${glibc}|g" \
        -e "s|@libcDev@|${libcDev}|g" \
        -e "s|@linuxHeaders@|${linuxHeaders}|g" \
        -e "s|@binutils@|${binutils}|g" \
        -e "s|@libgccs@|${libgccs}|g" \
        -e "s|@prog@|${prog}|g" \
        -e "s|@extraRpath@|${extraRpath}|g" \
        ${./cc-wrapper.sh} > $out/bin/${prog}
    chmod +x $out/bin/${prog}
  '';
  # C++ programs load libstdc++ and libgcc_s (exceptions) at run time
  cxxRpath = "-Wl,-rpath,${libstdcxx}/lib -Wl,-rpath,${libgccs}/lib";
in
(runCommand "gcc-wrapper-${gcc.version}" {
  passthru = {
    cc = gcc;
    libc = glibc;
    bintools = binutils;
    isGNU = true;
    isClang = false;
    targetPrefix = "";
    version = gcc.version;
  };
} ''
  mkdir -p $out/bin $out/nix-support
  ${subst "gcc-12" ""}
  ${subst "g++-12" cxxRpath}
  ${subst "cpp-12" ""}
  ln -s gcc-12 $out/bin/gcc
  ln -s gcc-12 $out/bin/cc
  ln -s g++-12 $out/bin/g++
  ln -s g++-12 $out/bin/c++
  ln -s cpp-12 $out/bin/cpp
  cp ${./setup-hook.sh} $out/nix-support/setup-hook
  echo ${binutils} ${patchelf} > $out/nix-support/propagated-native-build-inputs
'') // {
  pname = "gcc-wrapper";
  inherit (gcc) version;
  meta = gcc.meta // { mainProgram = "gcc"; };
}
