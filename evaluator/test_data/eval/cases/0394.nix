(builtins.tryEval (builtins.head [ ])).success or "uncatchable"
