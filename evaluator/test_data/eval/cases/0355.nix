builtins.map (builtins.add 1) [ 1 2 ]
