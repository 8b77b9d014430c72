[ ./a ../b /abs/c a/b ./a/../b/./c ./. ]
