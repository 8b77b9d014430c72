builtins.compareVersions "" "1"
