import ../files/dir
