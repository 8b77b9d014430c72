let s = { inherit ({ a = 1; b = 2; })  a b; }; in [ (builtins.unsafeGetAttrPos "a" s).column (builtins.unsafeGetAttrPos "b" s).column ]
