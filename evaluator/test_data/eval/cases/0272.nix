let s = { ab = 1; }; n = "b"; in s."a${n}"
