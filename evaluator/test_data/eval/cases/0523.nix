import ../files/latin1-literal.nix
