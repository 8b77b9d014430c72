builtins.fromJSON "[]"
