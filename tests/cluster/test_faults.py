"""A node of each kind dies while orders flow; the pipeline stays exact (issue 14).

On the local cluster (3 Kafka, 3 Cassandra, Spark master + 2 workers, SASL/SCRAM and
PasswordAuthenticator on): the stream runs against the Spark master, the shop places
orders at a steady rate, and then, at once, ``kill -9`` hits the Kafka broker that
leads partition 0 of the orders topic, one Cassandra node and one Spark worker (with
its executor). They are started again. Then:

- the stream is still the one we started (nothing needed a restart),
- every leaderboard total equals MySQL, all-time and per window,
- every order event the outbox marked as acknowledged by Kafka is in Kafka,
- every partition of the shop's topics has 3 in-sync replicas again.

Time and the peak memory of all our processes go to ``<cluster state>/fault-test.json``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import ConfigResource

from topproducts import db, kafka_io, reconcile, stack
from topproducts import stream_control as stream_process
from topproducts.events import Topic, decode
from topproducts.leaderboards.store import open_store
from topproducts.settings import Settings
from topproducts.shop import outbox, seed, simulator
from topproducts.stack import cluster
from topproducts.stack import process as processes

pytestmark = [pytest.mark.cluster]

ORDERS = 900
RATE = 10.0  # orders per second: the faults land in the middle of the flow


class PeakMemory(threading.Thread):
    """Samples the resident memory of every process of ours (each service's process
    group, the stream's and this test's) and keeps the largest sum."""

    def __init__(self, groups: Callable[[], list[int]]) -> None:
        super().__init__(daemon=True)
        self.groups = groups
        self.peak = 0
        self.done = threading.Event()

    @staticmethod
    def _rss_by_group() -> dict[int, int]:
        found: dict[int, int] = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                pgid, rss_pages = int(stat[2]), int(stat[21])
            except (OSError, IndexError, ValueError):
                continue
            found[pgid] = found.get(pgid, 0) + rss_pages * 4096
        return found

    def run(self) -> None:
        while not self.done.wait(2.0):
            by_group = self._rss_by_group()
            total = sum(by_group.get(g, 0) for g in {*self.groups(), os.getpgid(0)})
            self.peak = max(self.peak, total)


def our_groups(nodes: Settings, shop: Settings) -> list[int]:
    pids = [processes.read_pid(svc.pid_file) for svc in cluster.services(nodes)]
    return [p for p in [*pids, stream_process.running_pid(shop)] if p]


def wait_for(what: str, check, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(every)


def first_batch(shop: Settings) -> bool:
    with open_store(shop) as store:
        return any(p.batch_id is not None for p in store.progress())


def partition_leader(shop: Settings, topic: str, partition: int) -> int:
    metadata = kafka_io.admin(shop).list_topics(topic, timeout=10)
    return metadata.topics[topic].partitions[partition].leader


def short_isr(shop: Settings) -> list[str]:
    """Partitions of the shop's topics with fewer than 3 in-sync replicas."""
    metadata = kafka_io.admin(shop).list_topics(timeout=10)
    return [f"{name}/{p}: isr {meta.isrs}"
            for name in (shop.topic(t.value) for t in Topic)
            for p, meta in metadata.topics[name].partitions.items() if len(meta.isrs) < 3]


def topic_replication(shop: Settings, topic: str) -> tuple[int, str]:
    """(fewest replicas of a partition, min.insync.replicas) of a topic."""
    admin = kafka_io.admin(shop)
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    resource = ConfigResource("topic", topic)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    return min(len(p.replicas) for p in partitions.values()), config["min.insync.replicas"].value


def keyspace_replication(shop: Settings) -> dict[str, str]:
    with open_store(shop) as store:
        row = store.session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (shop.cassandra_keyspace,)).one()
        return dict(row.replication)


def acknowledged_order_events(shop: Settings) -> set[str]:
    """Event ids of the orders topic that the outbox relay saw Kafka acknowledge."""
    with db.transaction(shop) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT event_id FROM `{shop.database('order_management')}`.outbox "
                    "WHERE topic = %s AND published_at IS NOT NULL",
                    (shop.topic(Topic.ORDERS.value),))
        return {row[0] for row in cur.fetchall()}


def order_events_in_kafka(shop: Settings) -> set[str]:
    """Every event id in the orders topic, read from the start to the current end."""
    topic = shop.topic(Topic.ORDERS.value)
    consumer = kafka_io.consumer(f"{shop.kafka_topic_prefix}-check", shop)
    try:
        ends = {}
        for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = (low, high)
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in ends.items()])
        remaining = {p: high for p, (_, high) in ends.items()}
        found = set()
        while remaining:
            msg = consumer.poll(10)
            assert msg is not None, f"timed out reading {topic}, {remaining} left"
            assert msg.error() is None, msg.error()
            found.add(str(decode(msg.value()).event_id))
            if msg.offset() + 1 >= remaining.get(msg.partition(), 0):
                remaining.pop(msg.partition(), None)
        return found
    finally:
        consumer.close()


def test_exact_through_a_broker_a_cassandra_node_and_a_spark_worker_killed(
        nodes: Settings, cluster_shop: Settings) -> None:
    shop = cluster_shop
    started = time.monotonic()
    memory = PeakMemory(lambda: our_groups(nodes, shop))
    memory.start()

    kafka_io.ensure_topics(shop)  # as `topproducts seed` does
    seed.seed(shop, customers=300, products=60, seed=14)
    orders_topic = shop.topic(Topic.ORDERS.value)
    assert topic_replication(shop, orders_topic) == (3, "2")
    with pytest.raises(Exception, match=r"[Aa]uthenticat|not permitted"):
        cluster.by_name(nodes, "cassandra-1").login("cassandra", "cassandra")
    stream_pid = stream_process.start(shop, wait=5)
    wait_for("the stream's first batch", lambda: first_batch(shop), timeout=300)
    replication = keyspace_replication(shop)
    assert replication["class"].endswith("NetworkTopologyStrategy")
    assert replication[shop.cassandra_local_dc] == "3"

    produced: dict[str, object] = {}

    def place_orders() -> None:
        try:
            produced["report"] = simulator.produce(shop, ORDERS, seed=3, rate=RATE,
                                                   batch_size=10)
        except Exception as exc:  # the assertion below shows it
            produced["error"] = exc

    shopper = threading.Thread(target=place_orders, daemon=True)
    shopper.start()
    time.sleep(20)

    leader = partition_leader(shop, orders_topic, 0)
    victims = [cluster.by_name(nodes, name) for name in
               (f"kafka-{leader}", "cassandra-2", "spark-worker-1")]
    for victim in victims:
        cluster.kill(victim)
    killed_at = time.monotonic()
    wait_for(f"a new leader of {orders_topic}/0",
             lambda: partition_leader(shop, orders_topic, 0) not in (-1, leader), timeout=60)
    time.sleep(15)  # orders keep flowing with one node of each kind down
    for restarted in cluster.up(nodes):  # starts the three dead ones again, side by side
        assert restarted.answer, restarted.name
    restarted_after = time.monotonic() - killed_at

    shopper.join(timeout=ORDERS / RATE + 120)
    assert not shopper.is_alive(), "the shop stopped placing orders"
    assert "error" not in produced, f"placing orders failed: {produced.get('error')!r}"
    outbox.publish_pending(shop)  # what a failed flush left behind, if anything

    assert stream_process.running_pid(shop) == stream_pid, (
        "the stream died; see " + str(stream_process.log_file(shop)) + ":\n"
        + processes.tail(stream_process.log_file(shop), 20))
    for kind in (reconcile.ALL_TIME, "windows"):
        report = reconcile.run(shop, kind, wait_seconds=240)
        assert report.consistent, report.summary()
        assert not report.mismatches, "\n".join(str(m) for m in report.mismatches[:10])
        assert report.compared > 0

    acknowledged = acknowledged_order_events(shop)
    missing = acknowledged - order_events_in_kafka(shop)
    assert acknowledged and not missing, f"{len(missing)} acknowledged events not in Kafka"

    wait_for("3 in-sync replicas everywhere", lambda: not short_isr(shop), timeout=120)
    for svc in cluster.services(nodes):
        assert stack.service_status(svc).state == "running", svc.name

    memory.done.set()
    memory.join()
    result = {"seconds": round(time.monotonic() - started, 1),
              "restarted_after_seconds": round(restarted_after, 1),
              "peak_rss_gib": round(memory.peak / 2**30, 2),
              "orders": ORDERS, "acknowledged_order_events": len(acknowledged),
              "killed": [v.name for v in victims]}
    (nodes.state_dir / "fault-test.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nfault test: {result}")
