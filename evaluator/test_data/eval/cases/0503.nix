builtins.stringLength (builtins.readFile ../files/latin1.txt)
