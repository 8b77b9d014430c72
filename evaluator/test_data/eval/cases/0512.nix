builtins.toXML (builtins.readFile ../files/latin1.txt)
