let f = a: b: a + b; in f 1 2
