builtins.head (builtins.sort (a: b: a < b) [ 5 3 9 ])
