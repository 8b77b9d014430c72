builtins.toString { outPath = "/foo"; }
