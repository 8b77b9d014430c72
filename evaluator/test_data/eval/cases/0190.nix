builtins.compareVersions "2.0" "1.9"
