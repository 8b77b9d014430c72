builtins.toJSON { a = 1; b = [ true null "x" ]; c = 1.5; }
