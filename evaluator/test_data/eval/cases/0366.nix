builtins.fromJSON "-5"
