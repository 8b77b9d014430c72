let f = { a ? throw "default" }: 1; in f { }
