{ a = throw "lazy"; b = 1; }.b
