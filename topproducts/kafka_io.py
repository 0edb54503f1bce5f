"""Kafka clients (confluent-kafka) configured from settings, and topic creation."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from topproducts.errors import StackError
from topproducts.events import Topic
from topproducts.settings import Settings, get_settings


def producer_config(settings: Settings | None = None) -> dict[str, object]:
    """An idempotent producer: acks=all, no duplicates on retry, ordered per partition."""
    s = settings or get_settings()
    return {
        "bootstrap.servers": s.kafka_bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    }


def producer(settings: Settings | None = None) -> Producer:
    return Producer(producer_config(settings))


def consumer(group_id: str, settings: Settings | None = None, **extra: object) -> Consumer:
    s = settings or get_settings()
    return Consumer(
        {
            "bootstrap.servers": s.kafka_bootstrap,
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **extra,
        }
    )


def admin(settings: Settings | None = None) -> AdminClient:
    s = settings or get_settings()
    return AdminClient({"bootstrap.servers": s.kafka_bootstrap})


def ensure_topics(settings: Settings | None = None, names: list[str] | None = None) -> list[str]:
    """Create the shop topics (idempotent). Returns the full names."""
    s = settings or get_settings()
    wanted = names or [s.topic(t.value) for t in Topic]
    client = admin(s)
    try:
        existing = set(client.list_topics(timeout=10).topics)
    except KafkaException as exc:
        raise StackError(f"Kafka at {s.kafka_bootstrap}: {exc.args[0]}") from None
    new = [NewTopic(t, num_partitions=s.kafka_partitions, replication_factor=1)
           for t in wanted if t not in existing]
    for topic, future in (client.create_topics(new).items() if new else []):
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise StackError(f"Kafka: cannot create topic {topic}: {exc}") from None
    return wanted
