with { x = 1; }; x
