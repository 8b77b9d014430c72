let s = { }; in s.a.b.c or "deflt"
