x: if x then 1 else if !x then 2 else 3
