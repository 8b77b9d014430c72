let x = 5; in x * x - x
