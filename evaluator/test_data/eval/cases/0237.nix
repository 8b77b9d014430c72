builtins.concatStringsSep "" (builtins.genList (x: toString x) 10)
