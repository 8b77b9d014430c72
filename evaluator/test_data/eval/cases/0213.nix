builtins.fromTOML "x.y = true"
