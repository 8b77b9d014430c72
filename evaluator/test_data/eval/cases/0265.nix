builtins.length (builtins.filter (x: builtins.isInt x) [ 1 "a" 2 null ])
