{ outPath = "/x"; } + 1
