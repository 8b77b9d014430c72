builtins.stringLength (builtins.fromJSON "\"\\u00e9\"")
