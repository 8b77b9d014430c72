builtins.typeOf builtins.add
