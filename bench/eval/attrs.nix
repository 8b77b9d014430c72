let
  mk = off: builtins.listToAttrs (builtins.genList (i: { name = "a${toString (i + off)}"; value = i; }) 10000);
  a = mk 0;
  b = mk 5000;
  merged = builtins.foldl' (acc: s: acc // s) { } [ a b (mk 2500) ];
in builtins.length (builtins.attrNames merged) + merged.a7777
