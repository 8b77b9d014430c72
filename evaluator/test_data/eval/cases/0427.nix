builtins.replaceStrings [ "aaa" "aa" ] [ "3" "2" ] "aaaaa"
