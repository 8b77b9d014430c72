builtins.floor 2.7
