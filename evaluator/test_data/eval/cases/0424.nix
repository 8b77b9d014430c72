builtins.length (builtins.split "" "abc")
