rec { x = 1; inherit (builtins) length; y = length [ x ]; }.y
