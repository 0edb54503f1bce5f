"""The transactional outbox: events are rows first, Kafka messages second.

Why: "an order is in MySQL iff its events were delivered to Kafka".

1. A writer (placing orders, seeding customers) inserts its domain rows *and*
   one ``order_management.outbox`` row per event (event_id, topic, key, value)
   in the **same MySQL transaction**. Either both commit or neither does: no
   event exists for a rolled-back order, and no committed order lacks its
   outbox rows. Kafka is not touched inside the transaction.
2. **Outbox ids are visible in commit order.** :func:`write`, the one place that
   inserts outbox rows, takes their ids from the ``outbox`` row of
   ``order_management.id_sequences`` (:func:`~topproducts.shop.schema.allocate_ids`)
   inside the writer's transaction. That row stays locked until the transaction
   ends, and a rollback gives the range back, so ids are dense and a transaction
   can only get ids above every id of the transactions that committed before it:
   once id N is visible, every smaller id is committed (or never will be).
   (AUTO_INCREMENT ids commit out of order and leave gaps: a position over them
   would skip rows.) The sequence row is the last lock a writer takes: take its
   other locks first (the simulator collects its events and writes them at the end
   of its transaction, :func:`events_last`), or lose a deadlock and retry
   (:mod:`~topproducts.shop.retry`).
3. The :class:`Relay` keeps a **position** (``order_management.outbox_relay``:
   ``published_through``): every row at or below it was delivered. It reads the rows
   above it in id order, produces them with the idempotent producer
   (``enable.idempotence``, ``acks=all``), flushes, and then moves the position,
   once per batch, to the last row of the **delivered prefix**: a row whose delivery
   failed stops it there, and that row and those after it are read again next time.
   :meth:`Relay.publish_pending` reports success only after the flush, when every
   row it read was acknowledged by the broker.
4. If the relay dies after delivery but before moving the position, the next relay
   publishes those rows again: delivery is **at-least-once**, and a duplicate
   carries the same ``event_id`` (the stream dedupes). If it dies before
   delivery, the rows are still above the position and go out next time.
5. **Retention**: published rows (at or below the position) older than
   ``outbox_retention_hours`` (24 by default) are deleted by the relay, in primary-key
   ranges of a bounded size, at most every ``outbox_prune_interval_seconds``
   (:meth:`Relay.prune`). The audit trail of events is Kafka (the topics keep
   everything), plus the outbox rows within the retention, plus the position.

So once a relay has drained the outbox, the set of committed orders and the
set of orders with events in Kafka are the same, and every event of an order
is in Kafka exactly as it was committed: "iff", eventually.

One relay runs at a time (a MySQL named lock per database prefix), and it
publishes in outbox id order, which is commit order; together with the
idempotent producer and the order-id message key, one order's events keep their
order on their partition.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
from topproducts.shop.schema import OUTBOX_SEQUENCE, RELAY, Tables, allocate_ids
from topproducts.shop.sql import naive_utc

log = logging.getLogger(__name__)


class PublishFailed(TopProductsError):
    """Some outbox rows could not be delivered; they stay above the position and are
    retried."""


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


_COLUMNS = "(id, event_id, event_type, topic, `key`, `value`, created_at) VALUES"


def write(cur, tables: Tables, rows: Sequence[tuple]) -> int:
    """Insert outbox rows on the caller's cursor, inside the caller's transaction.

    Their ids come from the outbox sequence (see the module docstring): from here to
    the end of the transaction, other writers of events wait. Inside
    :func:`events_last` the rows are only collected, and written when it ends.
    """
    later = getattr(cur, "outbox_later", None)
    if later is not None:
        later.extend(rows)
        return len(rows)
    if rows:
        ids = allocate_ids(cur, tables.order_sequences, OUTBOX_SEQUENCE, len(rows))
        sql.insert_many(cur, f"INSERT INTO {tables.outbox} {_COLUMNS}",
                        [(i, *row) for i, row in zip(ids, rows, strict=True)])
    return len(rows)


@contextmanager
def events_last(cur, tables: Tables) -> Iterator[None]:
    """Collect the outbox rows written on ``cur`` inside the block; write them when it
    ends without an error, so the outbox sequence is the transaction's last lock.

    ``cur`` must accept attributes (``outbox_later``): the pipelined cursor and the
    driver's do.
    """
    cur.outbox_later = []
    try:
        yield
    finally:
        rows, cur.outbox_later = cur.outbox_later, None
    write(cur, tables, rows)


def position(cur, tables: Tables) -> int:
    """The relay's position: every outbox row with an id at or below it was delivered."""
    cur.execute(f"SELECT published_through FROM {tables.outbox_relay} WHERE name = %s",
                (RELAY,))
    row = cur.fetchone()
    if row is None:
        raise StackError(f"no outbox relay position in {tables.outbox_relay}: run "
                         "`topproducts seed` (it migrates the shop's schema)")
    return int(row[0])


def unpublished(cur, tables: Tables) -> int:
    """Outbox rows above the relay's position (not yet known to be in Kafka)."""
    cur.execute(f"SELECT COUNT(*) FROM {tables.outbox} WHERE id > "
                f"(SELECT published_through FROM {tables.outbox_relay} WHERE name = %s)",
                (RELAY,))
    return int(cur.fetchone()[0])


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
    """Publishes the outbox rows above its position to Kafka; see the module docstring.

    Use as a context manager; it holds a MySQL connection and a Kafka producer.
    Each :meth:`publish_pending` call takes the relay lock (a MySQL named lock
    per database prefix) for its duration, so relays of concurrent producers
    take turns, each draining everything committed so far.
    """

    POLL_EVERY = 1000  # messages produced between polls for delivery reports (a poll per
    # message was 7.5 us each, more than the produce; the flush serves the rest)
    PRUNE_ROWS = 5000  # rows per DELETE (one primary-key range)...
    PRUNE_CHUNKS = 20  # ...and ranges per prune: at most 100,000 rows each time

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
        with self._conn.cursor() as cur:
            # No gap locks: the prune's range deletes must not stop writers appending ids.
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        self._through = 0  # the position, read when the lock is taken
        self._pruned_at: float | None = None  # monotonic time of the last prune

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def pending(self) -> int:
        with self._conn.cursor() as cur:
            return unpublished(cur, self.tables)

    def publish_pending(self, max_rows: int | None = None) -> RelayReport:
        """Publish the rows above the position (all, or up to ``max_rows``) in batches;
        flush each batch, then move the position over its delivered prefix.

        Returns only when every row read was delivered; raises :class:`PublishFailed`
        (after moving the position over the delivered prefix) otherwise.
        When it returns, every row committed before the call is published:
        by this call, or by another relay that held the lock before it.
        Deletes published rows past the retention, at most every
        ``outbox_prune_interval_seconds``.
        """
        report = RelayReport(by_topic={})
        with self._locked():
            with self._conn.cursor() as cur:
                self._through = position(cur, self.tables)
            while max_rows is None or report.events < max_rows:
                limit = self.batch_size if max_rows is None else min(self.batch_size,
                                                                     max_rows - report.events)
                batch = self._publish_batch(limit)
                report.add(batch)
                if batch.events < limit:
                    break
            now = time.monotonic()
            if (self._pruned_at is None
                    or now - self._pruned_at >= self.settings.outbox_prune_interval_seconds):
                self._pruned_at = now
                self.prune()
        return report

    def prune(self, now: datetime | None = None) -> int:
        """Delete published rows (at or below the position) created more than
        ``outbox_retention_hours`` before ``now``, oldest ids first, in primary-key
        ranges of :attr:`PRUNE_ROWS`, at most :attr:`PRUNE_CHUNKS` ranges; returns the
        rows deleted. Each range is its own short transaction."""
        cutoff = naive_utc((now or datetime.now(UTC))
                           - timedelta(hours=self.settings.outbox_retention_hours))
        deleted = 0
        with self._conn.cursor() as cur:
            through = position(cur, self.tables)
            for _ in range(self.PRUNE_CHUNKS):
                cur.execute(f"SELECT id, created_at FROM {self.tables.outbox} "
                            "ORDER BY id LIMIT 1")
                first = cur.fetchone()
                if first is None or first[0] > through or first[1] >= cutoff:
                    break
                n = cur.execute(
                    f"DELETE FROM {self.tables.outbox} WHERE id BETWEEN %s AND %s "
                    "AND created_at < %s",
                    (first[0], min(first[0] + self.PRUNE_ROWS - 1, through), cutoff))
                deleted += n
                if n == 0:
                    break
        if deleted:
            log.info("outbox: deleted %d published row(s) older than %s", deleted, cutoff)
        return deleted

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
                "WHERE id > %s ORDER BY id LIMIT %s",
                (self._through, limit),
            )
            rows = cur.fetchall()
        if not rows:
            return RelayReport(by_topic={})
        delivered: set[int] = set()
        errors: list[str] = []

        def on_delivery(err: KafkaError | None, msg, row_id: int) -> None:
            if err is None:
                delivered.add(row_id)
            else:
                errors.append(f"{msg.topic()}: {err.str()}")

        by_topic: dict[str, int] = {}
        size = 0
        try:
            for n, (row_id, topic, key, value) in enumerate(rows, start=1):
                value = bytes(value)
                size += len(value)
                by_topic[topic] = by_topic.get(topic, 0) + 1
                self._produce(topic, key, value,
                              lambda err, msg, row_id=row_id: on_delivery(err, msg, row_id))
                if n % self.POLL_EVERY == 0:
                    self._producer.poll(0)  # serve delivery reports now and then
        finally:
            # Whatever happened, wait for the reports and record what the broker has:
            # the position moves over the delivered prefix, never past a row that is not.
            remaining = self._producer.flush(self.flush_timeout)
            through = self._through
            for row in rows:
                if row[0] not in delivered:
                    break
                through = row[0]
            if through > self._through:
                self._advance(through)
                self._through = through
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
                return
            except BufferError:
                self._producer.poll(0.05)  # queue full: serve delivery reports, then retry
            except KafkaException as exc:
                raise PublishFailed(f"Kafka: cannot produce to {topic}: {exc}") from None

    def _advance(self, through: int) -> None:
        """Move the position to ``through`` (every row up to it was delivered)."""
        with self._conn.cursor() as cur:
            cur.execute(
                f"UPDATE {self.tables.outbox_relay} SET published_through = %s, "
                "updated_at = UTC_TIMESTAMP(6) WHERE name = %s AND published_through < %s",
                (through, RELAY, through),
            )


def publish_pending(settings: Settings | None = None) -> RelayReport:
    """Drain the outbox once (ensuring the topics exist first)."""
    s = settings or get_settings()
    kafka_io.ensure_topics(s)
    with Relay(s) as relay:
        return relay.publish_pending()
