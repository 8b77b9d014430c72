''dollar $ sign''
