builtins.stringLength (builtins.fromJSON "\"a\\u0000b\"")
