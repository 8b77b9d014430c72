builtins.fromTOML "x = \"a\\u0000b\""
