builtins.attrNames (builtins.readDir ./.) != [ ]
