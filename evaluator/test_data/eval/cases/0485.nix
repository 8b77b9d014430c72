let a = 1; s = rec {   inherit   a  ; }; in (builtins.unsafeGetAttrPos "a" s).column
