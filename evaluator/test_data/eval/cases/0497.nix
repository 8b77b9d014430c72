{ outPath = "/x"; } + "/y"
