builtins.match "^.*(\\.nix)$" "main.py"
