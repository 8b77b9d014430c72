builtins.baseNameOf ./foo.nix
