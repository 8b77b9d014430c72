builtins.tryEval { a = throw "inner"; }
