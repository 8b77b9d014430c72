builtins.dirOf "/a/b/c"
