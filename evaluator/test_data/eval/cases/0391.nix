builtins.typeOf builtins.true
