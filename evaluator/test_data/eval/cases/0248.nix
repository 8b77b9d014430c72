let s = builtins.listToAttrs (builtins.genList (i: { name = "a${toString i}"; value = i; }) 20); in builtins.length (builtins.attrNames s)
