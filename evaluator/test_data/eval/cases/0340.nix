builtins.attrNames (builtins.functionArgs ({ a, b, c ? 1 }: a))
