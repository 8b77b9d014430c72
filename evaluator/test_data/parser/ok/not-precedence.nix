x: !x == x
