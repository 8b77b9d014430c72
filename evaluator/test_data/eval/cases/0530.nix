builtins.attrNames (builtins.fromJSON "{\"a\\u0000b\": 1, \"c\": 2}")
