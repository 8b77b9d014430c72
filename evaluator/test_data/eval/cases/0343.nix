let x = { a = 1; }; in x.a.b or 2
