"a" + toString 1
