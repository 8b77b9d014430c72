builtins.fromJSON (builtins.toJSON { a = [ 1 2 ]; b = "c"; })
