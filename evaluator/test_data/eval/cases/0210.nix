builtins.fromJSON "123"
