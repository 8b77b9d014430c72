builtins.match "(.)." "é"
