[ <nixpkgs> <nixpkgs/lib> ]
