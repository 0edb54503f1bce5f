"""Thin SQL for what the API reads; every write is the shop's (:mod:`topproducts.shop`).

Portable SQL over the shop's tables (:class:`topproducts.shop.schema.Tables`), on
the caller's connection. Rows come back as dicts shaped like the response models.
"""
