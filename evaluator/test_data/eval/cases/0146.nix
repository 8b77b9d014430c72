builtins.toString 1
