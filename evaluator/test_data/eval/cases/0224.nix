builtins.getContext "abc"
