let x = throw "lazy"; in 1
