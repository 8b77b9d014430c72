let __nixPath = [ { prefix = "f"; path = ../files; } ]; in import <f/lib.nix>
