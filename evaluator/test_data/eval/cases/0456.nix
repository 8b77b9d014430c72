(import ../files/lib.nix).a
