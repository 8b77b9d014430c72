builtins.attrNames { a = 1; A = 2; _b = 3; "1" = 4; }
