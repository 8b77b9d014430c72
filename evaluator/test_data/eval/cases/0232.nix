builtins.length (builtins.attrNames builtins) > 100
