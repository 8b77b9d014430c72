builtins.hashString "sha256" (builtins.readFile ../files/latin1.txt)
