(x: x) ? a
