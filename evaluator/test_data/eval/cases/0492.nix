{ b = throw "no"; } ? b
