builtins.sub 5 3
