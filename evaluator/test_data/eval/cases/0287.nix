(x: y: x) 1 (throw "lazy")
