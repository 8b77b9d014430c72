let f = { x, y ? x + 1 }: y; in f { x = 1; }
