builtins.toString { __toString = self: "str${toString self.v}"; v = 1; }
