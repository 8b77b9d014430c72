builtins.match "caf[^ ]+ (cr.me)\n" (builtins.readFile ../files/latin1.txt)
