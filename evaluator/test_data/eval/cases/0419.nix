builtins.typeOf (builtins.dirOf ./foo.nix)
