"a${toString 1}b"
