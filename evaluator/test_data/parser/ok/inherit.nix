let a = 1; b = { c = 2; }; in { inherit a; inherit (b) c; }
