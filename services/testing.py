"""Test helpers: an isolated shop (own databases, topics, keyspace) on the real stack.

Used by the API tests; safe to import without pytest.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from topproducts import cassandra_io, kafka_io
from topproducts.leaderboards import schema as lb_schema
from topproducts.settings import Settings
from topproducts.shop import sandbox
from topproducts.shop import seed as shop_seed
from topproducts.shop.schema import drop_databases

log = logging.getLogger(__name__)


def isolated(base: Settings, tag: str | None = None) -> Settings:
    """``base`` with its own MySQL prefix, Kafka topic prefix (the shop's sandbox) and
    Cassandra keyspace."""
    tag = tag or "tapi" + uuid.uuid4().hex[:8]
    return sandbox.sandbox(base, tag).replace(cassandra_keyspace=tag)


@contextmanager
def isolated_shop(base: Settings, customers: int = 12, products: int = 8,
                  tag: str | None = None) -> Iterator[Settings]:
    """A small seeded shop with its topics and leaderboard keyspace; dropped afterwards."""
    s = isolated(base, tag)
    try:
        shop_seed.seed(s, customers=customers, products=products)
        kafka_io.ensure_topics(s)
        session = cassandra_io.connect(s)
        try:
            lb_schema.ensure_schema(session, s)
        finally:
            session.cluster.shutdown()
        yield s
    finally:
        drop_shop(s)


def drop_shop(s: Settings) -> None:
    """Drop the isolated databases, keyspace and topics (best effort, each on its own)."""
    default = Settings()
    if (not s.mysql_database_prefix or s.kafka_topic_prefix == default.kafka_topic_prefix
            or s.cassandra_keyspace == default.cassandra_keyspace):
        raise ValueError("refusing to drop a shop that is not isolated")
    with contextlib.suppress(Exception):
        drop_databases(s)
    with contextlib.suppress(Exception):
        session = cassandra_io.connect(s)
        try:
            lb_schema.drop_keyspace(session, s)
        finally:
            session.cluster.shutdown()
    with contextlib.suppress(Exception):
        client = kafka_io.admin(s)
        topics = [t for t in client.list_topics(timeout=10).topics
                  if t.startswith(s.kafka_topic_prefix + ".")]
        if topics:
            for future in client.delete_topics(topics).values():
                future.result(timeout=30)


def read_events(s: Settings, topic: str, until, timeout: float = 20.0) -> list:
    """Decoded events of ``s.topic(topic)`` from the beginning, polled until ``until(events)``
    is true or ``timeout`` seconds pass (the caller asserts on what came back)."""
    import time

    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from topproducts.events import decode

    name = s.topic(topic)
    consumer = kafka_io.consumer(f"{s.kafka_topic_prefix}-reader-{uuid.uuid4().hex[:6]}", s)
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        events: list = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(events):
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            events.append(decode(msg.value()))
        return events
    finally:
        consumer.close()
