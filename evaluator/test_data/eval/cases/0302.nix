''quote ''' in string''
