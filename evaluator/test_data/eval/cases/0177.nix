builtins.split "([ab])" "xaybz"
