builtins.fromTOML "[[arr]]\nx = 1\n[[arr]]\nx = 2"
