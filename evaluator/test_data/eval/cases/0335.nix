let y = 10; f = { x ? y }: x; in f { }
