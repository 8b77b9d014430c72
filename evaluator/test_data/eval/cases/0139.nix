builtins.genList (x: x * 2) 5
