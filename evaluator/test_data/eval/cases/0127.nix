map (x: "${x}!") [ "a" "b" ]
