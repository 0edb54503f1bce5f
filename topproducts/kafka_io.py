"""Kafka clients (confluent-kafka) configured from settings, and topic creation."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from topproducts.errors import StackError
from topproducts.events import Topic
from topproducts.settings import Settings, get_settings


def security_config(settings: Settings) -> dict[str, str]:
    """librdkafka options for SASL/SCRAM when a user is set (else none: PLAINTEXT)."""
    if not settings.kafka_sasl_username:
        return {}
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": settings.kafka_sasl_mechanism,
        "sasl.username": settings.kafka_sasl_username,
        "sasl.password": settings.kafka_sasl_password,
    }


def java_client_options(settings: Settings) -> dict[str, str]:
    """The same for a Java client (Spark's Kafka source takes them prefixed ``kafka.``)."""
    if not settings.kafka_sasl_username:
        return {}
    user = settings.kafka_sasl_username.replace('"', '\\"')
    password = settings.kafka_sasl_password.replace('"', '\\"')
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": settings.kafka_sasl_mechanism,
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
                            f'username="{user}" password="{password}";',
    }


def producer_config(settings: Settings | None = None) -> dict[str, object]:
    """An idempotent producer: acks=all, no duplicates on retry, ordered per partition."""
    s = settings or get_settings()
    return {
        **security_config(s),
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
            **security_config(s),
            "bootstrap.servers": s.kafka_bootstrap,
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **extra,
        }
    )


def admin(settings: Settings | None = None) -> AdminClient:
    s = settings or get_settings()
    return AdminClient({**security_config(s), "bootstrap.servers": s.kafka_bootstrap})


def ensure_topics(settings: Settings | None = None, names: list[str] | None = None) -> list[str]:
    """Create the shop topics (idempotent). Returns the full names."""
    s = settings or get_settings()
    wanted = names or [s.topic(t.value) for t in Topic]
    client = admin(s)
    try:
        existing = set(client.list_topics(timeout=10).topics)
    except KafkaException as exc:
        raise StackError(f"Kafka at {s.kafka_bootstrap}: {exc.args[0]}") from None
    # The shop topics are the event history the leaderboards can be rebuilt from: kept.
    config = {"retention.ms": "-1"}
    if s.kafka_replication > 1:
        config["min.insync.replicas"] = str(s.kafka_min_insync_replicas)
    new = [NewTopic(t, num_partitions=s.kafka_partitions, replication_factor=s.kafka_replication,
                    config=config)
           for t in wanted if t not in existing]
    for topic, future in (client.create_topics(new).items() if new else []):
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise StackError(f"Kafka: cannot create topic {topic}: {exc}") from None
    return wanted
