builtins.replaceStrings ["z"] [(throw "unused replacement")] "aaa"
