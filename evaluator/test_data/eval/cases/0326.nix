builtins.concatStringsSep "/" [ "usr" "local" "bin" ]
