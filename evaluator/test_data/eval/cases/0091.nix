builtins.typeOf (x: x)
