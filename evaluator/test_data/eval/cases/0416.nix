null == false
