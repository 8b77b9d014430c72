"${builtins.toJSON [ 1 ]}"
