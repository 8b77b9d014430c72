builtins.sort builtins.lessThan [ "B" "a" "A" "b" ]
