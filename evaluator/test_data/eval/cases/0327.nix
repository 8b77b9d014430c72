builtins.elem "b" [ "a" "b" ]
