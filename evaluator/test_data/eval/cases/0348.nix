let s = { a = { b = null; }; }; in s ? a.b
