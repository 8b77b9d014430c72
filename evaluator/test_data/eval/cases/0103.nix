builtins.isFunction builtins.map
