builtins.substring 0 3 ''abcdef''
