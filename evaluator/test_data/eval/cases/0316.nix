builtins.genList (x: x * 1.5) 3
