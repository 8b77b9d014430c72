builtins.elemAt [ "a" "b" ] 0
