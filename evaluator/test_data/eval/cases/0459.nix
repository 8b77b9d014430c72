(import ../files/dir).fromDir
