let a = "a"; in { "${a}" = 1; }
