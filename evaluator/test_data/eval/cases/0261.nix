builtins.map (f: f 1) [ (x: x + 1) (x: x * 10) ]
