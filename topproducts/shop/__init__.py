"""The shop: MySQL schema, seeding, pricing, placing orders, and the event outbox.

Modules, from the bottom up:

- :mod:`~topproducts.shop.reference`: fixed reference data (FX rates, categories, carriers).
- :mod:`~topproducts.shop.pricing`: pure money arithmetic of an order line.
- :mod:`~topproducts.shop.schema`: versioned, idempotent DDL for the five databases.
- :mod:`~topproducts.shop.seed`: deterministic, idempotent Faker seeding.
- :mod:`~topproducts.shop.outbox`: the transactional outbox and its Kafka relay.
- :mod:`~topproducts.shop.orders`: the domain operation "place an order" (and its lifecycle).
- :mod:`~topproducts.shop.simulator`: random shoppers driving :mod:`orders`.
- :mod:`~topproducts.shop.sql`: fast multi-row INSERTs; :mod:`~topproducts.shop.sandbox`:
  isolated shops (database and topic prefixes) for tests and benchmarks.
"""
