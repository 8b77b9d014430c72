builtins.stringLength (builtins.readFile ../files/data.txt)
