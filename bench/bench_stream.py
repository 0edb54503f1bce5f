"""Benchmark the streaming job on the real stack: drain rate and event-to-leaderboard latency.

    .venv/bin/python bench/bench_stream.py [--events 20000] [--rate 20] [--seconds 60]

1. Drain: with the job running and warm, write ``--events`` events at once and
   time until every query's progress reaches the topic's end (events/s).
2. Latency: produce ``--rate`` orders/s for ``--seconds``; once a second a probe
   order with a fresh variant id; latency = from produce to the probe's total
   being readable in Cassandra (``item_totals``; its board is rewritten in the
   same batch, right after). Prints p50/p99.

Runs in its own topic prefix, keyspace and state dir, all removed at the end.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from confluent_kafka import TopicPartition

from streaming import process
from streaming.job import QUERIES
from streaming.reference import synthetic_orders
from topproducts import cassandra_io, kafka_io
from topproducts.events import LineItem, OrderConfirmed, encode, make_event
from topproducts.leaderboards import open_store
from topproducts.leaderboards.schema import drop_keyspace
from topproducts.settings import Settings, get_settings


def end_offsets(settings: Settings) -> dict[str, dict[int, int]]:
    consumer = kafka_io.consumer(f"{settings.kafka_topic_prefix}-bench", settings)
    try:
        topic = settings.topic("orders")
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {topic: {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                        for p in parts}}
    finally:
        consumer.close()


def wait_caught_up(settings: Settings, store, timeout: float) -> float:
    target = end_offsets(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = {p.query: p for p in store.progress()}
        if all(q in rows and rows[q].offsets() == target for q in QUERIES):
            return time.monotonic()
        time.sleep(0.25)
    raise SystemExit(f"not caught up after {timeout}s; see {process.log_file(settings)}")


def probe(variant_id: int, order_id: int) -> bytes:
    item = LineItem(line_no=1, variant_id=variant_id, product_id=variant_id,
                    product_name="probe", material="probe", quantity=1,
                    unit_price=Decimal("1.00"), revenue=Decimal("1.00"),
                    revenue_usd=Decimal("1.00"))
    now = datetime.now(UTC)
    return encode(make_event(OrderConfirmed(
        order_id=order_id, customer_id=1, country="US", currency="USD",
        fx_rate_usd=Decimal("1"), total=Decimal("1.00"), items=[item], confirmed_at=now)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20000, help="events to drain")
    ap.add_argument("--rate", type=float, default=20.0, help="orders/s during the latency run")
    ap.add_argument("--seconds", type=int, default=60, help="length of the latency run")
    ap.add_argument("--trigger", type=float, default=None,
                    help="trigger seconds (default: settings)")
    args = ap.parse_args()

    name = "bench" + uuid.uuid4().hex[:8]
    base = get_settings()
    settings = base.replace(kafka_topic_prefix=name, cassandra_keyspace=name,
                            state_dir=Path(tempfile.mkdtemp(prefix="bench-stream-")),
                            stream_trigger_seconds=args.trigger or base.stream_trigger_seconds,
                            spark_ui_port=4070)
    topic = settings.topic("orders")
    kafka_io.ensure_topics(settings, [topic])
    producer = kafka_io.producer(settings)
    next_order = 1

    def send(values: list[tuple[str, bytes]]) -> None:
        for key, value in values:
            while True:
                try:
                    producer.produce(topic, key=key, value=value)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.poll(0)

    try:
        with open_store(settings) as store:
            # warm up: the JVM, the codegen, the state stores
            warm = synthetic_orders(20, seed=1, first_order_id=next_order)
            next_order += 20
            send([(e.key, encode(e)) for e in warm])
            producer.flush()
            started = time.monotonic()
            process.start(settings)
            wait_caught_up(settings, store, 600)
            print(f"startup + warm-up: {time.monotonic() - started:.1f}s")

            # 1. drain
            orders = max(1, args.events // 2)
            backlog = timedelta(seconds=0.1)  # a backlog of the recent past, 10 orders/s
            events = [(e.key, encode(e)) for e in synthetic_orders(
                orders, seed=2, first_order_id=next_order, cancel_rate=0.05,
                start=datetime.now(UTC) - orders * backlog, step=backlog)][: args.events]
            next_order += orders
            t0 = time.monotonic()
            send(events)
            producer.flush()
            produced = time.monotonic()
            t1 = wait_caught_up(settings, store, 1800)
            print(f"drain: {len(events)} events produced in {produced - t0:.1f}s, all three "
                  f"queries caught up after {t1 - t0:.1f}s -> {len(events) / (t1 - t0):,.0f} "
                  "events/s")

            # 2. latency at a steady rate
            pending: dict[int, float] = {}
            latencies: list[float] = []
            done = threading.Event()
            lock = threading.Lock()
            read = store.session.prepare(
                f"SELECT variant_id FROM {settings.cassandra_keyspace}.item_totals "
                "WHERE scope = 'GLOBAL' AND window_id = 'all' AND variant_id IN ?")

            def poller() -> None:
                while not done.is_set() or pending:
                    with lock:
                        ids = list(pending)
                    if ids:
                        for row in store.session.execute(read, (ids,)):
                            with lock:
                                sent = pending.pop(row.variant_id, None)
                            if sent is not None:
                                latencies.append(time.monotonic() - sent)
                    time.sleep(0.05)
                    if done.is_set() and time.monotonic() > stop_at + 120:
                        return

            stop_at = time.monotonic() + args.seconds
            thread = threading.Thread(target=poller, daemon=True)
            thread.start()
            tick, probe_id = time.monotonic(), 10_000_000
            while time.monotonic() < stop_at:
                batch = synthetic_orders(max(1, int(args.rate)), seed=next_order,
                                         first_order_id=next_order, cancel_rate=0.05,
                                         step=timedelta(seconds=1 / args.rate))
                next_order += len(batch)
                send([(e.key, encode(e)) for e in batch])
                probe_id += 1
                with lock:
                    pending[probe_id] = time.monotonic()
                send([(str(next_order), probe(probe_id, next_order))])
                next_order += 1
                producer.flush()
                tick += 1.0
                time.sleep(max(0.0, tick - time.monotonic()))
            done.set()
            thread.join()
            if latencies:
                q = statistics.quantiles(latencies, n=100)
                print(f"latency over {len(latencies)} probes at {args.rate:g} orders/s "
                      f"(trigger {settings.stream_trigger_seconds}s): p50 {q[49]:.2f}s, "
                      f"p99 {q[98]:.2f}s, max {max(latencies):.2f}s; {len(pending)} unseen")
    finally:
        process.stop(settings, timeout=60)
        session = cassandra_io.connect(settings)
        drop_keyspace(session, settings)
        session.cluster.shutdown()
        admin = kafka_io.admin(settings)  # keep the handle alive until the futures end
        for future in admin.delete_topics([topic]).values():
            future.result(timeout=30)  # wait: the process may exit right after


if __name__ == "__main__":
    main()
