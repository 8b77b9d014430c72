builtins.zipAttrsWith (n: vs: builtins.length vs) [ { a = 1; b = 1; } { a = 2; } ]
