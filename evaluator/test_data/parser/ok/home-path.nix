~/config/x.nix
