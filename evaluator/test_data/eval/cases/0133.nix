builtins.all (x: x) [ ]
