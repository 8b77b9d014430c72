builtins.tryEval (builtins.elemAt [ 1 ] 0)
