let xs = [ (throw "lazy") 2 ]; in builtins.length xs
