builtins.unsafeGetAttrPos "x" { y = 1; }
