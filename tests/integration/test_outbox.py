"""The outbox against the real MariaDB and Kafka: ids from a sequence (dense, visible in
commit order), a relay position moved over the delivered prefix only, retention, and the
migration from per-row ``published_at`` marks.

Each test owns a sandbox (tests/support/sandbox.py): its own databases and topics.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from topproducts import db, kafka_io
from topproducts.events import CustomerCreated, decode, make_event
from topproducts.settings import Settings
from topproducts.shop import outbox, schema
from topproducts.shop.schema import Tables

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(sandbox: Settings) -> Iterator[Settings]:
    schema.ensure_schema(sandbox)
    kafka_io.ensure_topics(sandbox)
    yield sandbox


def rows(s: Settings, first: int, n: int, now: datetime | None = None) -> list[tuple]:
    """Outbox rows of ``n`` customer_created events (customers ``first``...)."""
    now = now or datetime.now(UTC)
    return outbox.outbox_rows(s, [make_event(CustomerCreated(customer_id=k, country="IN",
                                                             city="Pune"), now)
                                  for k in range(first, first + n)], now)


def write(s: Settings, batch: list[tuple]) -> None:
    with db.transaction(s) as conn, conn.cursor() as cur:
        outbox.write(cur, Tables.of(s), batch)


def ids(s: Settings) -> list[int]:
    with db.transaction(s) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id FROM {Tables.of(s).outbox} ORDER BY id")
        return [r[0] for r in cur.fetchall()]


def position(s: Settings) -> int:
    with db.transaction(s) as conn, conn.cursor() as cur:
        return outbox.position(cur, Tables.of(s))


def customers_in_kafka(s: Settings) -> list[int]:
    """customer_id of every customer_created message, in offset order per partition."""
    topic = s.topic("customers")
    consumer = kafka_io.consumer(f"{s.kafka_topic_prefix}-check", s)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        seen: list[int] = []
        while sum(ends.values()) > len(seen):
            for msg in consumer.consume(1000, timeout=5):
                if msg.error() is None:
                    seen.append(decode(msg.value()).payload["customer_id"])
        return seen
    finally:
        consumer.close()


def test_ids_are_dense_and_visible_in_commit_order_with_two_writers(shop: Settings) -> None:
    """Two writers commit outbox rows at once, each holding its transaction open a moment
    after writing; a reader polling the table must only ever see 1..max, no hole (with
    AUTO_INCREMENT it sees a later writer's rows before an earlier one's commit)."""
    t = Tables.of(shop)
    per_writer, size = 25, 7
    stop = threading.Event()
    holes: list[list[int]] = []
    errors: list[BaseException] = []

    def writer(first: int) -> None:
        try:
            conn = db.connect(shop)
            try:
                for k in range(per_writer):
                    with conn.cursor() as cur:
                        outbox.write(cur, t, rows(shop, first + k * size, size))
                        cur.execute("SELECT SLEEP(0.005)")  # still uncommitted
                    conn.commit()
            finally:
                conn.close()
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        conn = db.connect(shop, autocommit=True)
        try:
            while not stop.is_set():
                with conn.cursor() as cur:
                    cur.execute(f"SELECT id FROM {t.outbox} ORDER BY id")
                    seen = [r[0] for r in cur.fetchall()]
                if seen != list(range(1, len(seen) + 1)):
                    holes.append(seen)
        finally:
            conn.close()

    watching = threading.Thread(target=reader)
    watching.start()
    writers = [threading.Thread(target=writer, args=(1 + i * 10_000,)) for i in range(2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    watching.join()
    assert not errors
    assert not holes, f"a reader saw a hole: {holes[0][:20]}..."
    assert ids(shop) == list(range(1, 2 * per_writer * size + 1))


def test_a_rolled_back_writer_leaves_no_gap(shop: Settings) -> None:
    write(shop, rows(shop, 1, 3))
    with pytest.raises(RuntimeError), db.transaction(shop) as conn, conn.cursor() as cur:
        outbox.write(cur, Tables.of(shop), rows(shop, 4, 5))
        raise RuntimeError("the writer fails after writing its events")
    write(shop, rows(shop, 9, 2))
    assert ids(shop) == [1, 2, 3, 4, 5]


def test_the_position_moves_over_the_delivered_prefix_only(shop: Settings) -> None:
    """Row 3 goes to a topic that does not exist (auto-creation is off): its delivery
    fails, so the position stops at 2 although rows 4 and 5 were delivered; once the
    topic exists, the next relay publishes 3, 4 and 5 (4 and 5 a second time)."""
    batch = rows(shop, 1, 5)
    missing = f"{shop.kafka_topic_prefix}.missing"
    batch[2] = (batch[2][0], batch[2][1], missing, *batch[2][3:])
    write(shop, batch)
    failing = kafka_io.producer_config(shop) | {"message.timeout.ms": 3000}
    with outbox.Relay(shop, producer=Producer(failing)) as relay, \
            pytest.raises(outbox.PublishFailed):
        relay.publish_pending()
    assert position(shop) == 2
    with outbox.Relay(shop) as relay:
        assert relay.pending() == 3
    assert sorted(customers_in_kafka(shop)) == [1, 2, 4, 5]

    admin = kafka_io.admin(shop)  # keep the handle alive until the future ends
    admin.create_topics([NewTopic(missing, num_partitions=1,
                                  replication_factor=1)])[missing].result(timeout=30)
    again = outbox.publish_pending(shop)
    assert again.events == 3 and position(shop) == 5
    assert sorted(customers_in_kafka(shop)) == [1, 2, 4, 4, 5, 5]


def test_a_crash_before_the_position_moves_publishes_again(shop: Settings,
                                                           monkeypatch) -> None:
    write(shop, rows(shop, 1, 4))

    def crash(self, through: int) -> None:
        raise RuntimeError("relay killed after the flush, before moving its position")

    with monkeypatch.context() as m:
        m.setattr(outbox.Relay, "_advance", crash)
        with pytest.raises(RuntimeError), outbox.Relay(shop) as relay:
            relay.publish_pending()
    assert position(shop) == 0
    assert outbox.publish_pending(shop).events == 4
    assert position(shop) == 4
    assert sorted(customers_in_kafka(shop)) == [1, 1, 2, 2, 3, 3, 4, 4]


def test_retention_deletes_only_published_rows_older_than_it(shop: Settings) -> None:
    now = datetime.now(UTC)
    retention = timedelta(hours=shop.outbox_retention_hours)
    old = now - retention - timedelta(minutes=5)
    write(shop, rows(shop, 1, 4, old))  # ids 1-4: past the retention
    write(shop, rows(shop, 5, 2, now))  # 5-6: within it
    write(shop, rows(shop, 7, 1, old))  # 7: past it, but after younger rows
    with outbox.Relay(shop) as relay:
        relay.PRUNE_ROWS = 3  # 1-3, then 4: several ranges
        relay.publish_pending()  # publishes 1-7, then prunes (its first call does)
        assert position(shop) == 7
        # 1-4 are gone; the prune stops at the first row within the retention (5)
        assert ids(shop) == [5, 6, 7]
        write(shop, rows(shop, 8, 3, old))  # 8-10: past the retention, not published
        later = now + retention + timedelta(minutes=10)  # 5-7 are past it too by then
        assert relay.prune(later) == 3
        assert ids(shop) == [8, 9, 10]  # above the position: kept
        relay.publish_pending()  # publishes 8-10; no prune before the interval
        assert ids(shop) == [8, 9, 10]
        assert relay.prune(now) == 3
        assert ids(shop) == []
        assert relay.pending() == 0 and position(shop) == 10


def test_the_migration_from_published_marks_keeps_unpublished_rows_pending(
        sandbox: Settings) -> None:
    """A shop at schema version 1 (AUTO_INCREMENT ids, ``published_at``) with rows 1-5, of
    which 3 and 5 are unpublished: after the migration the position is 2, rows 3-5 are
    pending, and new rows continue at 6."""
    conn = db.connect(sandbox, autocommit=True)
    try:
        with conn.cursor() as cur:
            for name in db.DATABASES:
                schema._migrate(cur, sandbox.database(name), schema.MIGRATIONS[name][:1])
            t = Tables.of(sandbox)
            old = [(*row, None if k in (3, 5) else row[5])
                   for k, row in enumerate(rows(sandbox, 1, 5), start=1)]
            cur.executemany(f"INSERT INTO {t.outbox} (event_id, event_type, topic, `key`, "
                            "`value`, created_at, published_at) VALUES "
                            "(%s, %s, %s, %s, %s, %s, %s)", old)
    finally:
        conn.close()
    assert schema.ensure_schema(sandbox)["order_management"] == [2]
    assert schema.ensure_schema(sandbox)["order_management"] == []
    assert position(sandbox) == 2
    write(sandbox, rows(sandbox, 6, 2))
    assert ids(sandbox) == [1, 2, 3, 4, 5, 6, 7]
    kafka_io.ensure_topics(sandbox)
    assert outbox.publish_pending(sandbox).events == 5
    assert position(sandbox) == 7
    assert sorted(customers_in_kafka(sandbox)) == [3, 4, 5, 6, 7]
