builtins.splitVersion "1.2a-pre3"
