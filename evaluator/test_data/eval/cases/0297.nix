''  trailing  ''
