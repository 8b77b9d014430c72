builtins.map builtins.typeOf [ 1 "a" null ]
