builtins.toString 0.1
