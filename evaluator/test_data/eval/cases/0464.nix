builtins.pathExists ../files/data.txt
