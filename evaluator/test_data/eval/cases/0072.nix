builtins.mul 4 5
