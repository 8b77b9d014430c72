builtins.length [ (x: x) ]
