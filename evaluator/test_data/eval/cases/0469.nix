builtins.baseNameOf (builtins.toString ../files/data.txt)
