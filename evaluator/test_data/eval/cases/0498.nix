{ __toString = s: "a"; } + "b"
