builtins.hashString "sha256" "The quick brown fox"
