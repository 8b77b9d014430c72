builtins.fromJSON "\"\\u0041\""
