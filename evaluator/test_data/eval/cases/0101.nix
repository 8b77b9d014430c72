builtins.isAttrs { }
