builtins.toJSON [ 1.0 2.5 ]
