builtins.isInt 1.0
