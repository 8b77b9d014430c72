builtins.hashFile "md5" ../files/data.txt
