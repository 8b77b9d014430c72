builtins.readFile ../files/nul.txt
