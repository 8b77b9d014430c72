builtins.stringLength "é✓"
