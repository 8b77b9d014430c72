{ inherit (builtins) length head; }.head [ 7 ]
