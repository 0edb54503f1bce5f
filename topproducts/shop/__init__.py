"""The shop: MySQL schema, seeding, pricing, every domain write, and the event outbox.

Modules, from the bottom up:

- :mod:`~topproducts.shop.reference`: fixed reference data (FX rates, categories, carriers).
- :mod:`~topproducts.shop.pricing`: pure money arithmetic of an order line.
- :mod:`~topproducts.shop.schema`: versioned, idempotent DDL for the five databases, and
  :class:`~topproducts.shop.schema.Tables` (the one place table names are spelled).
- :mod:`~topproducts.shop.sql`: naive-UTC timestamps, ``IN`` lists, fast multi-row INSERTs.
- :mod:`~topproducts.shop.outbox`: the transactional outbox and its Kafka relay.
- :mod:`~topproducts.shop.seed`: deterministic, idempotent Faker seeding.

The domain writes, each on the caller's cursor and in the caller's transaction,
with their events in the outbox (the simulator and the API call the same ones):

- :mod:`~topproducts.shop.lifecycle`: an order's statuses, cancel reasons, payment
  modes and limits; :mod:`~topproducts.shop.model`: order requests and write results;
  :mod:`~topproducts.shop.errors`: what an order request can be refused for.
- :mod:`~topproducts.shop.catalogue`: variants, FX rates, customers' countries (reads).
- :mod:`~topproducts.shop.batch`: a write's rows and events, flushed as multi-row INSERTs.
- :mod:`~topproducts.shop.placing`: place orders (many, or one in its own transaction).
- :mod:`~topproducts.shop.cancelling`: cancel confirmed orders, or return delivered ones.
- :mod:`~topproducts.shop.shipments`: move shipments along their flow.
- :mod:`~topproducts.shop.payments`: pay-on-delivery payments becoming paid.
- :mod:`~topproducts.shop.stock`: lock, take, restore, top up and set stock.
- :mod:`~topproducts.shop.customers`: create a customer, replace an address.
- :mod:`~topproducts.shop.retry`: run a transaction again when it lost a deadlock.
- :mod:`~topproducts.shop.simulator`: random shoppers driving the writes above.
"""
