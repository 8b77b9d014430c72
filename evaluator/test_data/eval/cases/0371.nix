builtins.toJSON true
