builtins.isFunction (x: x)
