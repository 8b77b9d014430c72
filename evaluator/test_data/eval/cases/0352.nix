builtins.length (builtins.concatLists (builtins.genList (x: [ x x ]) 10))
