builtins.fromJSON "1e3"
