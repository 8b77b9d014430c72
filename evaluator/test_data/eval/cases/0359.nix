builtins.tryEval (builtins.abort "x") == 1 || true
