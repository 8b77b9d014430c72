with builtins; length [ 1 ]
