let s = rec { a = 1; b = a; c = b; }; in s.c
