builtins.toJSON { }
