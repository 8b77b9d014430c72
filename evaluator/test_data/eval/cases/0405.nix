let k = "k"; in { ${k} = { x = 1; }; }
