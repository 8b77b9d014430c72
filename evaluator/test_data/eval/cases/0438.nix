let s = { __functor = self: x: self; a = 1; }; in (s 1).a
