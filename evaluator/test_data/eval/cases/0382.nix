builtins.stringLength (builtins.hashString "sha512" "x")
