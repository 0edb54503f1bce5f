"""Isolated shops for tests and benchmarks: own databases (prefix) and own topics (prefix)."""

from __future__ import annotations

from contextlib import suppress

from confluent_kafka import KafkaException

from topproducts import kafka_io
from topproducts.events import Topic
from topproducts.settings import Settings
from topproducts.shop import schema


def sandbox(settings: Settings, name: str) -> Settings:
    """Settings whose shop lives in ``<name>_*`` databases and ``<name>.*`` topics."""
    return settings.replace(mysql_database_prefix=f"{name}_", kafka_topic_prefix=name)


def drop(settings: Settings) -> None:
    """Drop a sandbox's databases and topics (refuses the unprefixed, real shop)."""
    if not settings.mysql_database_prefix or settings.kafka_topic_prefix == "shop":
        raise ValueError("refusing to drop a shop that is not a sandbox")
    schema.drop_databases(settings)
    client = kafka_io.admin(settings)
    existing = set(client.list_topics(timeout=10).topics)
    doomed = [settings.topic(t.value) for t in Topic if settings.topic(t.value) in existing]
    for future in (client.delete_topics(doomed).values() if doomed else []):
        with suppress(KafkaException):  # already gone
            future.result(timeout=30)
