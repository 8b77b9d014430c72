builtins.toJSON null
