builtins.mapAttrs (n: v: n) { a = 1; b = 2; }
