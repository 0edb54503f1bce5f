"""Reading a sandbox's events back from Kafka."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from topproducts import kafka_io
from topproducts.events import Envelope, decode
from topproducts.settings import Settings


def read_events(s: Settings, topic: str, until: Callable[[list[Envelope]], bool],
                timeout: float = 20.0) -> list[Envelope]:
    """Decoded events of ``s.topic(topic)`` from the beginning, polled until ``until(events)``
    is true or ``timeout`` seconds pass (the caller asserts on what came back)."""
    name = s.topic(topic)
    consumer = kafka_io.consumer(f"{s.kafka_topic_prefix}-reader-{uuid.uuid4().hex[:6]}", s)
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        events: list[Envelope] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(events):
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            events.append(decode(msg.value()))
        return events
    finally:
        consumer.close()
