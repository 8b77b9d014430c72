with {}; undefinedName
