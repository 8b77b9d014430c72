builtins.tryEval <surely-not-in-search-path>
