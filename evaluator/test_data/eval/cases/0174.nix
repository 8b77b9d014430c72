builtins.match "[[:alpha:]]+" "abc1"
