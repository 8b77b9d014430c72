let twice = f: x: f (f x); in twice (x: x * x) 3
