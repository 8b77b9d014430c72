builtins.isFloat 1.0
