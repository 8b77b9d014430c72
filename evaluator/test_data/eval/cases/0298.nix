"tab\there"
