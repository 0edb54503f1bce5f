"""Baselines to put the stream's drain rate in context, and a memory probe for the stream.

    .venv/bin/python bench/baselines.py [--events 1000000] [--variants 1000] [--seconds 20]

Preloads a throwaway topic (:func:`drain_data.preload`), then measures on it:

1. the bare consumer: confluent-kafka reading every message and doing nothing
   else (the ceiling any consumer of this topic can reach on this machine);
2. the seed baseline: the original project's way of counting, a synchronous
   read-modify-write of a Cassandra running total per line item.

The topic and the baseline's keyspace are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from decimal import Decimal
from typing import NamedTuple

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from topproducts import cassandra_io, kafka_io
from topproducts.countries import GLOBAL_SCOPE
from topproducts.events import EventType, InvalidEvent, OrderConfirmed, decode
from topproducts.settings import Settings, get_settings

try:  # run as a script (bench/ on sys.path) or imported as bench.baselines
    from drain_data import preload
except ImportError:
    from bench.drain_data import preload


class Rate(NamedTuple):
    """``count`` things done in ``seconds``."""

    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def _assigned_consumer(settings: Settings, topic: str, extra: dict[str, object] | None = None
                       ) -> tuple[Consumer, dict[int, int]]:
    """A consumer assigned every partition of ``topic`` from the start (no group join).

    Returns it with the end offset of each partition, read before consuming.
    """
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": f"baseline-{uuid.uuid4().hex[:8]}",  # required by the client, never joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        **(extra or {}),
    })
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    if meta.error is not None:
        consumer.close()
        raise KafkaException(meta.error)
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
    return consumer, ends


def _caught_up(consumer: Consumer, topic: str, ends: dict[int, int]) -> bool:
    positions = consumer.position([TopicPartition(topic, p) for p in ends])
    return all(tp.offset >= ends[tp.partition] for tp in positions)


def bare_consumer_rate(settings: Settings, topic: str) -> Rate:
    """Read ``topic`` from offset 0 to its end offsets as fast as the client can: (messages, s).

    The clock starts before the first fetch, so it includes connecting to the
    partition leaders (a few ms on the local broker).
    """
    consumer, ends = _assigned_consumer(settings, topic, {
        "fetch.max.bytes": 100 * 1024 * 1024,
        "max.partition.fetch.bytes": 32 * 1024 * 1024,
        "fetch.wait.max.ms": 100,
        "queued.max.messages.kbytes": 512 * 1024,
        "queued.min.messages": 1_000_000,
    })
    messages = 0
    try:
        started = time.perf_counter()
        if any(ends.values()):
            while True:
                batch = consumer.consume(num_messages=10_000, timeout=1.0)
                for msg in batch:
                    if msg.error() is None:
                        messages += 1
                if batch and _caught_up(consumer, topic, ends):
                    break
        return Rate(messages, time.perf_counter() - started)
    finally:
        consumer.close()


def seed_baseline_rate(settings: Settings, topic: str, seconds_budget: float = 20.0) -> Rate:
    """Count like the original job for ``seconds_budget`` s: (events consumed, s).

    Per valid ``order_confirmed`` event, for each line item and each scope (the
    country and GLOBAL), read the running total from Cassandra, add, write it
    back, synchronously, one statement at a time. Other events are decoded and
    skipped; they count as consumed, as they do in the stream's drain rate.
    Runs in a throwaway keyspace, dropped at the end.
    """
    keyspace = f"seedbase_{uuid.uuid4().hex[:8]}"
    session = cassandra_io.connect(settings)
    consumer = None
    try:
        session.execute(f"CREATE KEYSPACE {keyspace} WITH replication = "
                        f"{settings.cassandra_replication}")
        session.execute(f"CREATE TABLE {keyspace}.running_totals (scope text, variant_id int, "
                        "quantity bigint, revenue decimal, PRIMARY KEY ((scope, variant_id)))")
        read = session.prepare(f"SELECT quantity, revenue FROM {keyspace}.running_totals "
                               "WHERE scope = ? AND variant_id = ?")
        write = session.prepare(f"INSERT INTO {keyspace}.running_totals "
                                "(scope, variant_id, quantity, revenue) VALUES (?, ?, ?, ?)")
        consumer, ends = _assigned_consumer(settings, topic)
        events = 0
        started = time.perf_counter()
        deadline = started + seconds_budget
        while time.perf_counter() < deadline:
            batch = consumer.consume(num_messages=500, timeout=1.0)
            for msg in batch:
                if msg.error() is not None:
                    continue
                events += 1
                try:
                    event = decode(msg.value())
                except InvalidEvent:
                    continue
                if event.event_type is not EventType.ORDER_CONFIRMED:
                    continue
                payload = event.typed_payload()
                assert isinstance(payload, OrderConfirmed)
                for item in payload.items:
                    for scope in (payload.country, GLOBAL_SCOPE):
                        row = session.execute(read, (scope, item.variant_id)).one()
                        quantity, revenue = row if row else (0, Decimal("0.00"))
                        session.execute(write, (scope, item.variant_id,
                                                quantity + item.quantity,
                                                revenue + item.revenue_usd))
                if time.perf_counter() >= deadline:
                    break
            else:
                if batch and _caught_up(consumer, topic, ends):
                    break
                continue
            break
        return Rate(events, time.perf_counter() - started)
    finally:
        if consumer is not None:
            consumer.close()
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        session.cluster.shutdown()


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from the parent ids in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])  # after "(comm) state"
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of ``pid`` and its descendants (``field`` of /proc status summed:
    VmRSS now, VmHWM the peak), MiB; 0 if it is gone."""
    total_kib = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total_kib += next((int(line.split()[1]) for line in f
                                   if line.startswith(f"{field}:")), 0)
        except OSError:
            continue
    return total_kib / 1024


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of ``pid`` and its descendants (VmHWM summed), MiB."""
    return rss_mib(pid, "VmHWM")


def cpu_seconds(pid: int, descendants: bool = True) -> float:
    """CPU time (user + system) used so far by ``pid`` and (by default) its live
    descendants, seconds."""
    ticks = 0
    for p in _tree(pid) if descendants else [pid]:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (after "state")
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events to preload")
    ap.add_argument("--variants", type=int, default=1000, help="distinct variant ids")
    ap.add_argument("--seconds", type=float, default=20.0, help="seed baseline time budget")
    args = ap.parse_args()

    settings = get_settings().replace(kafka_topic_prefix="baseline" + uuid.uuid4().hex[:8])
    topic = settings.topic("orders")
    try:
        r = preload(settings, topic, args.events, variants=args.variants)
        print(f"preload: {r.events:,} events ({r.malformed:,} malformed) from {r.orders:,} "
              f"orders in {r.seconds:.1f}s -> {r.events_per_second:,.0f} events/s; "
              f"{r.confirmed:,} confirmed, {r.cancelled_at_payment:,} failed payments, "
              f"{r.cancelled_later:,} retractions; {r.counting_events:,} counting events, "
              f"{len(r.totals):,} (scope, variant) totals")
        bare = bare_consumer_rate(settings, topic)
        print(f"bare consumer: {bare.count:,} messages in {bare.seconds:.2f}s -> "
              f"{bare.per_second:,.0f} msgs/s")
        seed = seed_baseline_rate(settings, topic, args.seconds)
        print(f"seed baseline (sync read-modify-write per item and scope): {seed.count:,} "
              f"events in {seed.seconds:.1f}s -> {seed.per_second:,.0f} events/s")
    finally:
        admin = kafka_io.admin(settings)  # keep the handle alive until the futures end
        for future in admin.delete_topics([topic]).values():
            future.result(timeout=30)


if __name__ == "__main__":
    main()
