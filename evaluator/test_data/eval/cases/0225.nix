builtins.stringLength (builtins.toString 12345)
