builtins.replaceStrings [(throw "from")] [(throw "to")] (throw "input")
