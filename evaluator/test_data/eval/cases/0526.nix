import ../files/nul-literal.nix
