builtins.fromJSON "{}"
