builtins.fromJSON "true"
