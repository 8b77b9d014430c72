builtins.toJSON 0.1
