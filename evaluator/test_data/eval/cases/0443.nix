builtins.genList (i: i * i) 10
