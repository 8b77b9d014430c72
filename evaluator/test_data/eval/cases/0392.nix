builtins.null
