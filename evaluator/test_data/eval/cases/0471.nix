let __nixPath = [ { prefix = ""; path = ../files; } ]; in (import <dir>).fromDir
