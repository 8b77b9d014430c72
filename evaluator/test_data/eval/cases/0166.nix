builtins.replaceStrings [ "oo" ] [ "" ] "foo bar"
