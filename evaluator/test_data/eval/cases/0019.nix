"abc" > "abd"
