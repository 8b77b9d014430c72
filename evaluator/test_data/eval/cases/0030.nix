false -> true
