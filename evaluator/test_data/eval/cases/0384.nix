builtins.compareVersions "a" "b"
