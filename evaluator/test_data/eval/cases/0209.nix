builtins.fromJSON "{\"a\": [1, 2.5, null, true, \"s\"]}"
