"""The PySpark Structured Streaming job: Kafka ``orders`` -> leaderboards in Cassandra.

- :mod:`streaming.schema`: the Spark schema and validation rules, derived from
  the pydantic models in :mod:`topproducts.events` (written once).
- :mod:`streaming.transforms`: pure ``DataFrame -> DataFrame`` functions.
- :mod:`streaming.sink`: ``foreachBatch`` writers (absolute totals, ranks, dead letters).
- :mod:`streaming.progress`: the listener that writes a progress row per batch.
- :mod:`streaming.job`: the entry point, ``python -m streaming.job``.
- The job is started, stopped and watched as a process by :mod:`topproducts.stream_control`,
  and rebuilt by :mod:`topproducts.rebuild` (the shared package never imports this one).
"""
