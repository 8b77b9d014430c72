let a = 1; b = 2; s = { inherit a   b; }; in [ (builtins.unsafeGetAttrPos "a" s).column (builtins.unsafeGetAttrPos "b" s).column ]
