builtins.replaceStrings [ (builtins.substring 3 1 (builtins.readFile ../files/latin1.txt)) ] [ "e" ] (builtins.readFile ../files/latin1.txt)
