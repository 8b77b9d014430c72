builtins.splitVersion "2.3.4-rc1"
