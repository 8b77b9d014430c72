builtins.fromTOML "a = 1\nb = \"x\"\n[c]\nd = [1, 2]"
