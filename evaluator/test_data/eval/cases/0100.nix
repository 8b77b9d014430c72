builtins.isList [ ]
