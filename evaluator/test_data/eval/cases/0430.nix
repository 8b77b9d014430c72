let inherit (builtins) length; in length [ 1 ]
