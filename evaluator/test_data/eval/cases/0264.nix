let x = [ 1 2 3 ]; in builtins.elemAt x (builtins.length x - 1)
