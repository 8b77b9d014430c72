builtins.typeOf (/. + "a")
