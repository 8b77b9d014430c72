builtins.unsafeGetAttrPos "a" (builtins.mapAttrs (k: v: v) { a = true; })
