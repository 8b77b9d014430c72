builtins.isPath (./. + "/foo")
