builtins.toJSON "unicode é"
