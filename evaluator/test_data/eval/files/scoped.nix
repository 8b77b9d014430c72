{ v = x * 2; l = builtins.length [ 1 ]; }
