let lib = { id = x: x; }; in lib.id 5
