{ outPath = "/x"; } + { outPath = "/z"; }
