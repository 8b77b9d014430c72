let f = { a, b ? 2 }: a + b; in f { a = 1; b = 10; }
