builtins.readFile ../files/data.txt
