builtins.toJSON [ ]
