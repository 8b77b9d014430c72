x: "pre ${x} mid ${toString 1} post"
