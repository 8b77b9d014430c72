builtins.isInt 1
