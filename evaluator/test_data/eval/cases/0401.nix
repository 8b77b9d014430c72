let x = { a = 1; }; in { y = x; z = x; }
