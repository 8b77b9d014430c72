let
  words = builtins.genList (i: "word${toString i}") 100000;
  big = builtins.concatStringsSep " " words;
  replaced = builtins.replaceStrings [ "word" "1" ] [ "W" "one" ] big;
in builtins.stringLength big + builtins.stringLength replaced
