builtins.hashFile "sha256" ../files/data.txt
