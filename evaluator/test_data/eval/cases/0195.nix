builtins.parseDrvName "foo"
