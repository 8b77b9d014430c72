{ a = { b = throw "x"; }; } ? a.b.c
