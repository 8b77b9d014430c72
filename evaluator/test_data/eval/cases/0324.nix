builtins.replaceStrings [ "${"$"}{" ] [ "X" ] "a\${b}"
