builtins.toJSON (builtins.fromJSON "\"\\u00e9\\u0001\"")
