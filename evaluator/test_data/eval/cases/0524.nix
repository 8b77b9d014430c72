builtins.stringLength (import ../files/latin1-literal.nix).s
