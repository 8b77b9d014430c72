let inherit ({ x = 1; y = 2; }) x y; in x + y
