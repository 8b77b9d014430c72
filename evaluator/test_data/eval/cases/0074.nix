builtins.div 9.0 2
