builtins.readDir ../files/dir
