builtins.any (x: x) [ ]
