builtins.toString false
