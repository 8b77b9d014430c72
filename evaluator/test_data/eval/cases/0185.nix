builtins.dirOf "a/b"
