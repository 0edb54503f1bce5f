"""The PySpark Structured Streaming job: Kafka ``orders`` -> leaderboards in Cassandra.

- :mod:`streaming.schema`: the Spark schema and validation rules, derived from
  the pydantic models in :mod:`topproducts.events` (written once).
- :mod:`streaming.transforms`: pure ``DataFrame -> DataFrame`` functions.
- :mod:`streaming.sink`: ``foreachBatch`` writers (absolute totals, ranks, dead letters).
- :mod:`streaming.progress`: the listener that writes a progress row per batch.
- :mod:`streaming.job`: the entry point, ``python -m streaming.job``.
- :mod:`streaming.process`: start / stop / status of the job as a background process.
"""
