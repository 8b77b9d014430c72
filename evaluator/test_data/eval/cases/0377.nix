builtins.toXML "str"
