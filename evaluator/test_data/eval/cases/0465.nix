builtins.pathExists ../files/missing.txt
