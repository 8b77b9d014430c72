builtins.match "[é]+" "éé"
