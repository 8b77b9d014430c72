builtins.replaceStrings [ "a" ] [ "b" ] "banana"
