builtins.filter builtins.isString [ 1 "a" "b" ]
