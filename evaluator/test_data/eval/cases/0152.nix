builtins.toString [ 1 [ ] 2 ]
