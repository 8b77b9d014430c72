builtins.fromJSON (builtins.readFile ../files/latin1.json)
