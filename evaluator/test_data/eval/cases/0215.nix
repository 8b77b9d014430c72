builtins.toXML [ 1 null true ]
