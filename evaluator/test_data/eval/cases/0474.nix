builtins.map (f: builtins.typeOf (import f)) [ ../files/lib.nix ../files/dir ]
