builtins.substring 0 4 (builtins.readFile ../files/latin1.txt)
