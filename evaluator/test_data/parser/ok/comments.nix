/* block */ # line
1 /* inline */ + # tail
2
