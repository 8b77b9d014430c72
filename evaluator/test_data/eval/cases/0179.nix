builtins.baseNameOf "/a/b/c.nix"
