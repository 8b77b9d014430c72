builtins.ceil (-2.5)
