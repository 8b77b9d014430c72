let f = { a, ... }@args: args; in f { a = 1; c = 3; }
