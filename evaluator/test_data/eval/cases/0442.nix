let x = 1; in builtins.seq x x
