builtins.splitVersion ""
