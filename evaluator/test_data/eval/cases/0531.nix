builtins.fromJSON "[\"a\\u0000b\", \"c\\u0000\"]"
