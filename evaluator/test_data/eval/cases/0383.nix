builtins.compareVersions "1.2.3" "1.2"
