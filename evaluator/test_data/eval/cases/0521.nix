builtins.concatStringsSep (builtins.substring 3 1 (builtins.readFile ../files/latin1.txt)) [ "a" "b" ]
