builtins.sort builtins.lessThan [ 3.5 1 2.5 ]
