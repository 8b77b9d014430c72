builtins.split "(.)m" (builtins.readFile ../files/latin1.txt)
