builtins.fromTOML "s = 'lit'\nf = 1.5"
