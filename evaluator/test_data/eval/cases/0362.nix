builtins.toJSON (builtins.tryEval (throw "e"))
