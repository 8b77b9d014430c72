builtins.foldl' (a: b: a * b) 1 [ 1 2 3 4 5 ]
