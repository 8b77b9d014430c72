builtins.elem 5 [ 1 2 3 ]
