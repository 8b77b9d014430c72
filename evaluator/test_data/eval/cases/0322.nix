builtins.match "([0-9]+)\\.([0-9]+)" "3.14"
