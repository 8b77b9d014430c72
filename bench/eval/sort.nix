let xs = builtins.genList (i: (i * 7919) - (i / 13) * 13 * 7919 + i * 31) 50000;
in builtins.length (builtins.sort (a: b: a < b) xs)
