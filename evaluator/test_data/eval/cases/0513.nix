builtins.match "caf(.) (.*)" (builtins.readFile ../files/latin1.txt)
