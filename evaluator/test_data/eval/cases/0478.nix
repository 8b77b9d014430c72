builtins.replaceStrings ["a" "b"] ["x" (throw "unused replacement")] "aaa"
