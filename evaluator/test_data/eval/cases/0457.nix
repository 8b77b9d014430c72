(import ../files/lib.nix).b 41
