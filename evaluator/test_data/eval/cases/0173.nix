builtins.match "[[:digit:]]+" "123"
