builtins.dirOf "a"
