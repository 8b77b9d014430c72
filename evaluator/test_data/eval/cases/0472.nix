builtins.findFile [ { prefix = "x"; path = ../files; } ] "x/data.txt" == ../files/data.txt
