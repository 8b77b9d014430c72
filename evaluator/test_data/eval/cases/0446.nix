builtins.groupBy (s: builtins.substring 0 1 s) [ "ab" "ac" "bc" ]
