let f = args@{ a, ... }: builtins.attrNames args; in f { a = 1; c = 3; }
