x: x ? a.b
