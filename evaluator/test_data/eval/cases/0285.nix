builtins.isAttrs { a = throw "lazy"; }
