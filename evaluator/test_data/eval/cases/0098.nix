builtins.isBool false
