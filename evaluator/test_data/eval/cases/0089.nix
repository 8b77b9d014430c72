builtins.typeOf [ ]
