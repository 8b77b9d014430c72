builtins.toString (-1)
