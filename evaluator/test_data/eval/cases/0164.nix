builtins.replaceStrings [ "an" "a" ] [ "X" "Y" ] "banana"
