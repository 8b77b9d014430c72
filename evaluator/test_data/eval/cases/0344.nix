let x = null; in x.a or 3
