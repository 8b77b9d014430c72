"dollar $ sign"
