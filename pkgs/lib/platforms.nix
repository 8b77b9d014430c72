{ lib }:
rec {
  x86_64 = [ "x86_64-linux" "x86_64-darwin" ];
  linux = [ "x86_64-linux" "aarch64-linux" "i686-linux" "armv7l-linux" "riscv64-linux" ];
  darwin = [ "x86_64-darwin" "aarch64-darwin" ];
  unix = linux ++ darwin;
  all = unix;
  # The package set's binaries are Debian amd64 packages.
  rnix = [ "x86_64-linux" ];
}
