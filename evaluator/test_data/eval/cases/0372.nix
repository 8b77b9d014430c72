builtins.toJSON (-3)
