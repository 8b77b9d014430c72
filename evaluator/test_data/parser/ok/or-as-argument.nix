with { or = 1; }; x: x or
