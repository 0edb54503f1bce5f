"""Thin SQL for what the API reads (and the few writes the shop's domain has no function for).

Portable SQL over the shop's tables (:class:`topproducts.shop.schema.Tables`), on
the caller's connection. Rows come back as dicts shaped like the response models.
"""
