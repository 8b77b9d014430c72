builtins.functionArgs (x: x)
