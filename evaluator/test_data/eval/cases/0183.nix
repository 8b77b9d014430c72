builtins.dirOf "/a"
