builtins.removeAttrs { a = 1; } [ "b" ]
