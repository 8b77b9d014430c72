builtins.toString true
