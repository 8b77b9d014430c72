''escaped ''${not} interp''
