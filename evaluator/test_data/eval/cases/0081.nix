builtins.ceil 2.1
