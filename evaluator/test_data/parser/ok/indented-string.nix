x: ''
    line one
      indented ${x}
    ''$ '''quoted''' ''\n escaped
  ''
