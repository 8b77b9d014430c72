toString (/a + "/b")
