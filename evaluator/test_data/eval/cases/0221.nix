(builtins.tryEval (builtins.throw "y")).success
