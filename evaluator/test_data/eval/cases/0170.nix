builtins.match "^.*(\\.nix)$" "default.nix"
