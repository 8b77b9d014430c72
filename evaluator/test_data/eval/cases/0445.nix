builtins.concatMap (x: if x > 1 then [ x ] else [ ]) [ 1 2 3 ]
