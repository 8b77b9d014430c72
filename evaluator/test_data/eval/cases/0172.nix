builtins.match "([a-z]+)-([0-9.]+)" "hello-1.2.3"
