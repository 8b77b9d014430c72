[ https://x/y?z=1&a=b http://example.org/~user mirror://debian/pool ]
