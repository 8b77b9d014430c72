builtins.floor 3.0
