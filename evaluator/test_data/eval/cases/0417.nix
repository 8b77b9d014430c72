builtins.toString ./.  != ""
