"""topproducts: the shared domain package (settings, money, events, shop, local stack)."""
