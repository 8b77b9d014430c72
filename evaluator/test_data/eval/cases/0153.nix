builtins.toString { __toString = self: "x"; }
