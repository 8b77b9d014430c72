builtins.parseDrvName "python3.11-fastapi-0.110.0"
