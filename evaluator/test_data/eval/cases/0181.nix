builtins.baseNameOf "foo"
