builtins.match "x*" ""
