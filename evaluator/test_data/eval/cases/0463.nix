builtins.attrNames (builtins.readDir ../files)
