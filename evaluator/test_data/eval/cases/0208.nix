builtins.toJSON { outPath = "/x"; }
