builtins.toJSON (builtins.readFile ../files/latin1.txt)
