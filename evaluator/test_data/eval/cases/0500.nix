{ outPath = "/x"; } + /tmp
