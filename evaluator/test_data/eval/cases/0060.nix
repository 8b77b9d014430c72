"hello ${"world"}"
