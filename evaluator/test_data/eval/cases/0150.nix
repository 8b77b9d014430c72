builtins.toString null
