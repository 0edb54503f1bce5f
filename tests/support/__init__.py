"""Test support: the one sandbox, and helpers that read what a sandbox's shop wrote.

- :mod:`tests.support.sandbox`: isolated settings (own databases, topics, keyspace and
  state folder), created and dropped in one place.
- :mod:`tests.support.kafka`: reading a sandbox's events back from Kafka.
- :mod:`tests.support.leaderboards`: writing boards as the stream's sink does.
- :mod:`tests.support.ports`: a free local port.
"""
