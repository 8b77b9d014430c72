builtins.pathExists /nonexistent-rnix-test-path
