builtins.match "abc" "abd"
