builtins.bitOr 12 10
