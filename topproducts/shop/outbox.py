"""The transactional outbox: events are rows first, Kafka messages second.

Why: "an order is in MySQL iff its events were delivered to Kafka".

1. A writer (placing orders, seeding customers) inserts its domain rows *and*
   one ``order_management.outbox`` row per event (event_id, topic, key, value)
   in the **same MySQL transaction**. Either both commit or neither does: no
   event exists for a rolled-back order, and no committed order lacks its
   outbox rows. Kafka is not touched inside the transaction.
2. The :class:`Relay` reads unpublished outbox rows in id order, produces them
   with the idempotent producer (``enable.idempotence``, ``acks=all``), flushes,
   and only for the messages whose delivery report succeeded sets
   ``published_at``. :meth:`Relay.publish_pending` reports success only after
   the flush, when every message it read was acknowledged by the broker.
3. If the relay dies after delivery but before marking, the next relay
   publishes those rows again: delivery is **at-least-once**, and a duplicate
   carries the same ``event_id`` (the stream dedupes by it). If it dies before
   delivery, the rows are still unpublished and go out next time.

So once a relay has drained the outbox, the set of committed orders and the
set of orders with events in Kafka are the same, and every event of an order
is in Kafka exactly as it was committed: "iff", eventually.

One relay runs at a time (a MySQL named lock per database prefix), and it
publishes in outbox id order; together with the idempotent producer and the
order-id message key, one order's events keep their order on their partition.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import KafkaError, KafkaException, Producer

from topproducts import db, kafka_io
from topproducts.errors import StackError, TopProductsError
from topproducts.events import (
    PAYLOADS,
    SCHEMA_VERSION,
    TOPIC_OF,
    Envelope,
    EventType,
    encode,
    utc_iso,
)
from topproducts.settings import Settings, get_settings
from topproducts.shop import sql
from topproducts.shop.schema import Tables
from topproducts.shop.sql import naive_utc

log = logging.getLogger(__name__)


class PublishFailed(TopProductsError):
    """Some outbox rows could not be delivered; they stay unpublished and are retried."""


def outbox_rows(settings: Settings, events: Iterable[Envelope], now: datetime) -> list[tuple]:
    """Rows for :func:`write`: (event_id, event_type, topic, key, value, created_at)."""
    created = naive_utc(now)
    return [
        (str(e.event_id), e.event_type.value, settings.topic(e.topic.value), e.key, encode(e),
         created)
        for e in events
    ]


_EVENT_TYPE = {cls: event_type for event_type, cls in PAYLOADS.items()}


def uuid4_strings(n: int) -> list[str]:
    """``n`` random (version 4, RFC 4122 variant) UUIDs as strings, like ``str(uuid.uuid4())``.

    One ``os.urandom`` call for all of them: a system call per id costs more than the rest
    of an event's encoding.
    """
    raw = os.urandom(16 * n).hex()
    out = []
    for i in range(0, 32 * n, 32):
        h = raw[i:i + 32]
        variant = "89ab"[int(h[16], 16) & 3]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}")
    return out


class EventRows:
    """Outbox rows built straight from payloads, for writers of many events at once.

    Each row is what :func:`outbox_rows` makes of ``make_event(payload, occurred_at)``,
    byte for byte, without building an :class:`Envelope` per event: the payload model
    (validated on construction) is serialized once, into the envelope's JSON.
    """

    def __init__(self, settings: Settings, now: datetime) -> None:
        self.now = now
        self.created = naive_utc(now)
        self._now_iso = utc_iso(now)
        self._topics = {t: settings.topic(TOPIC_OF[t].value) for t in EventType}
        self._pending: list[tuple[EventType, str, str, str]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, payload, occurred_at: datetime | None = None) -> None:
        event_type = _EVENT_TYPE[type(payload)]
        key = getattr(payload, "order_id", None)
        if key is None:
            key = payload.customer_id
        at = self._now_iso if occurred_at is None else utc_iso(occurred_at)
        self._pending.append((event_type, str(key), at, payload.model_dump_json()))

    def rows(self) -> list[tuple]:
        """Rows for :func:`write`: (event_id, event_type, topic, key, value, created_at)."""
        ids = uuid4_strings(len(self._pending))
        created, topics = self.created, self._topics
        return [
            (event_id, event_type.value, topics[event_type], key,
             (f'{{"event_id":"{event_id}","event_type":"{event_type.value}",'
              f'"schema_version":{SCHEMA_VERSION},"occurred_at":"{at}","payload":{payload}}}').encode(),
             created)
            for event_id, (event_type, key, at, payload) in zip(ids, self._pending, strict=True)
        ]


def write(cur, tables: Tables, rows: Sequence[tuple]) -> int:
    """Insert outbox rows on the caller's cursor, inside the caller's transaction."""
    if rows:
        sql.insert_many(
            cur,
            f"INSERT INTO {tables.outbox} "
            "(event_id, event_type, topic, `key`, `value`, created_at) VALUES",
            rows,
        )
    return len(rows)


@dataclass
class RelayReport:
    events: int = 0
    bytes: int = 0
    seconds: float = 0.0
    by_topic: dict[str, int] | None = None

    def add(self, other: RelayReport) -> None:
        self.events += other.events
        self.bytes += other.bytes
        self.seconds += other.seconds
        merged = dict(self.by_topic or {})
        for topic, n in (other.by_topic or {}).items():
            merged[topic] = merged.get(topic, 0) + n
        self.by_topic = merged


class Relay:
    """Publishes unpublished outbox rows to Kafka; see the module docstring for the guarantee.

    Use as a context manager; it holds a MySQL connection and a Kafka producer.
    Each :meth:`publish_pending` call takes the relay lock (a MySQL named lock
    per database prefix) for its duration, so relays of concurrent producers
    take turns, each draining everything committed so far.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        producer: Producer | None = None,
        batch_size: int = 5000,
        flush_timeout: float = 30.0,
        lock_timeout: int = 120,
    ) -> None:
        self.settings = settings or get_settings()
        self.tables = Tables.of(self.settings)
        self.batch_size = batch_size
        self.flush_timeout = flush_timeout
        self.lock_timeout = lock_timeout
        self._producer = producer or kafka_io.producer(self.settings)
        self._lock = f"topproducts.outbox.{self.settings.mysql_database_prefix}"[:64]
        self._conn = db.connect(self.settings, autocommit=True)

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def pending(self) -> int:
        with self._conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {self.tables.outbox} WHERE published_at IS NULL")
            return int(cur.fetchone()[0])

    def publish_pending(self, max_rows: int | None = None) -> RelayReport:
        """Publish unpublished rows (all, or up to ``max_rows``) in batches; flush each batch.

        Returns only when every row read was delivered and marked; raises
        :class:`PublishFailed` (after marking the delivered ones) otherwise.
        When it returns, every row committed before the call is published:
        by this call, or by another relay that held the lock before it.
        """
        report = RelayReport(by_topic={})
        with self._locked():
            while max_rows is None or report.events < max_rows:
                limit = self.batch_size if max_rows is None else min(self.batch_size,
                                                                     max_rows - report.events)
                batch = self._publish_batch(limit)
                report.add(batch)
                if batch.events < limit:
                    break
        return report

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, %s)", (self._lock, self.lock_timeout))
            if cur.fetchone()[0] != 1:
                raise StackError(f"another outbox relay held {self._lock!r} for "
                                 f"{self.lock_timeout}s; try again")
        try:
            yield
        finally:
            with self._conn.cursor() as cur:
                cur.execute("SELECT RELEASE_LOCK(%s)", (self._lock,))

    def _publish_batch(self, limit: int) -> RelayReport:
        started = time.perf_counter()
        with self._conn.cursor() as cur:
            cur.execute(
                f"SELECT id, topic, `key`, `value` FROM {self.tables.outbox} "
                "WHERE published_at IS NULL ORDER BY id LIMIT %s",
                (limit,),
            )
            rows = cur.fetchall()
        if not rows:
            return RelayReport(by_topic={})
        delivered: list[int] = []
        errors: list[str] = []

        def on_delivery(err: KafkaError | None, msg, row_id: int) -> None:
            if err is None:
                delivered.append(row_id)
            else:
                errors.append(f"{msg.topic()}: {err.str()}")

        by_topic: dict[str, int] = {}
        size = 0
        try:
            for row_id, topic, key, value in rows:
                value = bytes(value)
                size += len(value)
                by_topic[topic] = by_topic.get(topic, 0) + 1
                self._produce(topic, key, value,
                              lambda err, msg, row_id=row_id: on_delivery(err, msg, row_id))
        finally:
            # Whatever happened, wait for the reports and record what the broker has.
            remaining = self._producer.flush(self.flush_timeout)
            self._mark(delivered)
        if errors or remaining or len(delivered) != len(rows):
            first = errors[0] if errors else f"{remaining} message(s) not acknowledged in time"
            raise PublishFailed(
                f"Kafka at {self.settings.kafka_bootstrap}: {len(rows) - len(delivered)} of "
                f"{len(rows)} outbox event(s) not delivered ({first}); they will be retried"
            )
        return RelayReport(events=len(rows), bytes=size,
                           seconds=time.perf_counter() - started, by_topic=by_topic)

    def _produce(self, topic: str, key: str, value: bytes, callback) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key.encode(), value=value,
                                       on_delivery=callback)
                self._producer.poll(0)
                return
            except BufferError:
                self._producer.poll(0.05)  # queue full: serve delivery reports, then retry
            except KafkaException as exc:
                raise PublishFailed(f"Kafka: cannot produce to {topic}: {exc}") from None

    def _mark(self, row_ids: list[int]) -> None:
        now = naive_utc(datetime.now(UTC))
        with self._conn.cursor() as cur:
            for i in range(0, len(row_ids), 2000):
                chunk = row_ids[i:i + 2000]
                marks = ",".join(["%s"] * len(chunk))
                cur.execute(
                    f"UPDATE {self.tables.outbox} SET published_at = %s "
                    f"WHERE id IN ({marks}) AND published_at IS NULL",
                    (now, *chunk),
                )


def publish_pending(settings: Settings | None = None) -> RelayReport:
    """Drain the outbox once (ensuring the topics exist first)."""
    s = settings or get_settings()
    kafka_io.ensure_topics(s)
    with Relay(s) as relay:
        return relay.publish_pending()
