builtins.stringLength "${toString 100}"
