true || false
