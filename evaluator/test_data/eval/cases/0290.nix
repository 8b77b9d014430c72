builtins.attrNames ({ z = 1; } // { a = 1; })
