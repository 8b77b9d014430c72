builtins.toJSON "a\"b\n"
