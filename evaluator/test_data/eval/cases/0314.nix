builtins.toString 100.0
