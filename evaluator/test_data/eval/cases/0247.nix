let xs = builtins.genList (x: x) 100; in builtins.foldl' (a: b: a + b) 0 xs
