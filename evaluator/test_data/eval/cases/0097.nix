builtins.isString "a"
