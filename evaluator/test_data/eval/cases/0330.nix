builtins.listToAttrs (map (n: { name = n; value = builtins.stringLength n; }) [ "a" "bb" "ccc" ])
