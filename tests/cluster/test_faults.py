"""Hosts crash and are cut off while orders flow; the pipeline stays exact (issues 14, 24).

On the local cluster's hosts (each node in its own network namespace, see
:mod:`topproducts.stack.netns`; SASL/SCRAM, SASL/PLAIN between controllers and
PasswordAuthenticator on), the stream runs under ``spark-submit`` on the app host against
the master's host, its executors on the worker hosts. While the shop places orders at a
steady rate:

1. **crash**: every process of three hosts is killed at once (``kill -9``): the host of the
   Kafka broker that leads partition 0 of the orders topic, the host of ``cassandra-2`` and
   the host of ``spark-worker-1`` (the worker and its executor). ``cluster up`` starts
   them again;
2. **partition**: the host of the broker that leads partition 0 now and the host of
   ``cassandra-3`` are cut off the network (their links down) for 30 s, then joined again.

Then:

- the stream is still the one we started (nothing needed a restart but the killed),
- every leaderboard total equals MySQL, all-time and per window,
- every order event the outbox marked as acknowledged by Kafka is in Kafka,
- every partition of the shop's topics has 3 in-sync replicas again.

Last, ``cluster down`` leaves no namespace, link or process behind.

Time, peak memory and the batches' timing before, during and after the partition go to
``<cluster state>/fault-test.json``. On loopback aliases (no root) the partition is skipped.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import ConfigResource

from topproducts import db, kafka_io, reconcile, stack
from topproducts import stream_control as stream_process
from topproducts.events import Topic, decode
from topproducts.leaderboards.store import STREAM_QUERY, open_store
from topproducts.settings import Settings
from topproducts.shop import outbox, seed, simulator
from topproducts.shop.schema import Tables
from topproducts.stack import cluster, netns
from topproducts.stack import process as processes

pytestmark = [pytest.mark.cluster]

RATE = 10.0  # orders per second, for as long as the faults last
PARTITION_SECONDS = 30.0


class PeakMemory(threading.Thread):
    """Samples the resident memory of every process of ours (``mine(pid, pgid)``: the
    hosts' processes, the stream's, this test's) and keeps the largest sum."""

    def __init__(self, mine: Callable[[int, int], bool]) -> None:
        super().__init__(daemon=True)
        self.mine = mine
        self.peak = 0
        self.at_peak: dict[str, float] = {}  # MiB by command, at the peak
        self.done = threading.Event()

    def sample(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                pgid, rss_pages = int(stat[2]), int(stat[21])
                if self.mine(int(proc.name), pgid):
                    name = processes.command_line(int(proc.name)).split(" ")[-2:]
                    key = " ".join(name)[-60:]
                    found[key] = found.get(key, 0) + rss_pages * 4096
            except (OSError, IndexError, ValueError):
                continue
        return found

    def run(self) -> None:
        while not self.done.wait(2.0):
            found = self.sample()
            if sum(found.values()) > self.peak:
                self.peak = sum(found.values())
                self.at_peak = {k: round(v / 2**20) for k, v in
                                sorted(found.items(), key=lambda kv: -kv[1])}


def ours(nodes: Settings, shop: Settings) -> Callable[[int, int], bool]:
    """Whether a process is ours: in one of the hosts' namespaces, or in a process group
    of a node, of the stream or of this test."""
    net = cluster.network(nodes)
    inodes = {os.stat(netns.NETNS_DIR / h.netns).st_ino for h in net.hosts if h.netns}

    def groups() -> set[int]:
        pids = [processes.read_pid(svc.pid_file) for svc in cluster.services(nodes)]
        return {p for p in [*pids, stream_process.running_pid(shop), os.getpgid(0)] if p}

    cached = {"at": 0.0, "groups": groups()}

    def mine(pid: int, pgid: int) -> bool:
        if time.monotonic() - cached["at"] > 10:  # type: ignore[operator]
            cached.update(at=time.monotonic(), groups=groups())
        if pgid in cached["groups"]:  # type: ignore[operator]
            return True
        try:
            return os.stat(f"/proc/{pid}/ns/net").st_ino in inodes
        except OSError:
            return False

    return mine


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
        t = Tables.of(shop)
        cur.execute(f"SELECT event_id FROM {t.outbox} WHERE topic = %s AND id <= %s",
                    (shop.topic(Topic.ORDERS.value), outbox.position(cur, t)))
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


def ring_whole(nodes: Settings) -> bool:
    """Whether every Cassandra node, as coordinator, reaches all three replicas (a read
    at ALL): no node still sees another down after a restart."""
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    query = SimpleStatement("SELECT role FROM system_auth.roles",
                            consistency_level=ConsistencyLevel.ALL)
    for name in cluster.CASSANDRA_NODES:
        node = cluster.by_name(nodes, name)
        try:
            session = node.login(nodes.cassandra_username,  # type: ignore[attr-defined]
                                 nodes.cassandra_password)
        except Exception:
            return False
        try:
            session.execute(query)
        except Exception:
            return False
        finally:
            session.cluster.shutdown()
    return True


def executors(shop: Settings) -> list[dict]:
    """The stream's driver and executors, from the driver's REST API (its UI)."""
    base = f"http://{shop.spark_driver_host}:{shop.spark_ui_port}/api/v1/applications"
    app = httpx.get(base, timeout=30).json()[0]["id"]
    return httpx.get(f"{base}/{app}/executors", timeout=30).json()


def executors_on_their_hosts(nodes: Settings, shop: Settings) -> dict[str, int] | None:
    """Worker host address -> tasks its executor completed (the Kafka reads), once the
    driver is on the app host; None while some have none (or the busy driver is slow to
    answer)."""
    try:
        found = executors(shop)
    except httpx.HTTPError:
        return None
    driver = [e for e in found if e["id"] == "driver"]
    assert driver and driver[0]["hostPort"].startswith(f"{cluster.address(nodes, 'app')}:")
    workers = {cluster.address(nodes, name) for name in cluster.WORKERS}
    tasks = {e["hostPort"].rsplit(":", 1)[0]: e["completedTasks"] for e in found
             if e["id"] != "driver" and e["hostPort"].rsplit(":", 1)[0] in workers}
    return tasks if tasks and all(tasks.values()) else None


class Shopper(threading.Thread):
    """Places orders at :data:`RATE` until stopped (chunks of 50, one seed each). A relay
    flush that times out while a broker is gone leaves its rows in the outbox (they are
    committed with their orders, and retried): the shop goes on, as it would."""

    def __init__(self, shop: Settings) -> None:
        super().__init__(daemon=True)
        self.shop = shop
        self.stop = threading.Event()
        self.chunks = 0
        self.unpublished_chunks = 0
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.chunks += 1
                try:
                    simulator.produce(self.shop, 50, seed=1000 + self.chunks, rate=RATE,
                                      batch_size=10)
                except outbox.PublishFailed:
                    self.unpublished_chunks += 1
        except Exception as exc:  # the assertion below shows it
            self.error = exc


def batch_timing(shop: Settings, spans: dict[str, tuple[float, float]]) -> dict[str, dict]:
    """Per span (wall-clock seconds): batches, their median and longest duration (ms), and
    the longest time without a committed batch (s): what the boards' freshness was."""
    with open_store(shop) as store:
        rows = store.progress_history(STREAM_QUERY, datetime.now(UTC).date(), limit=5000)
    batches = sorted((p.batch_at.timestamp(), p.batch_duration_ms) for p in rows
                     if p.batch_at is not None)
    out = {}
    for name, (start, end) in spans.items():
        inside = [(at, ms) for at, ms in batches if start <= at <= end]
        stamps = [start, *(at for at, _ in inside), end]
        durations = [ms for _, ms in inside]
        out[name] = {
            "seconds": round(end - start, 1), "batches": len(inside),
            "median_batch_ms": round(statistics.median(durations)) if durations else None,
            "max_batch_ms": max(durations, default=None),
            "longest_gap_s": round(max(b - a for a, b in pairwise(stamps)), 1),
        }
    return out


def test_exact_through_crashed_hosts_and_a_partition(
        nodes: Settings, cluster_shop: Settings) -> None:
    shop = cluster_shop
    net = cluster.network(nodes)
    started = time.monotonic()
    memory = PeakMemory(ours(nodes, shop))
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

    def phase(what: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {what}", flush=True)

    phase("stream's first batch done; orders start")
    shopper = Shopper(shop)
    shopper.start()
    # Executors on the worker hosts read Kafka (the query's only tasks) for the driver.
    tasks = wait_for("executors on the worker hosts with tasks done",
                     lambda: executors_on_their_hosts(nodes, shop), timeout=180)
    time.sleep(20)
    steady = (time.time() - 20, time.time())

    # 1. Three hosts crash at once.
    leader = partition_leader(shop, orders_topic, 0)
    crashed = [f"kafka-{leader}", "cassandra-2", "spark-worker-1"]
    phase(f"crash: {crashed}")
    for name in crashed:
        cluster.kill_host(nodes, name)
    killed_at = time.monotonic()
    wait_for(f"a new leader of {orders_topic}/0",
             lambda: partition_leader(shop, orders_topic, 0) not in (-1, leader), timeout=60)
    # The dead ones start again, side by side: a minute or more, with orders flowing.
    for restarted in cluster.up(nodes):
        assert restarted.answer, restarted.name
    restarted_after = time.monotonic() - killed_at
    phase("crashed hosts' processes answer again")
    wait_for("3 in-sync replicas after the crash", lambda: not short_isr(shop), timeout=120)
    wait_for("every Cassandra node to see the others", lambda: ring_whole(nodes), timeout=120)

    # 2. A broker host and a Cassandra host are cut off the network for 30 s.
    partition: dict[str, object] = {}
    if net.namespaced:
        cut_leader = partition_leader(shop, orders_topic, 0)
        cut = [f"kafka-{cut_leader}", "cassandra-3"]
        phase(f"partition: {cut}")
        cut_at = time.time()
        for name in cut:
            cluster.cut(nodes, name)
        try:
            wait_for(f"a new leader of {orders_topic}/0 while kafka-{cut_leader} is cut off",
                     lambda: partition_leader(shop, orders_topic, 0) not in (-1, cut_leader),
                     timeout=PARTITION_SECONDS)
            time.sleep(max(0.0, cut_at + PARTITION_SECONDS - time.time()))
        finally:
            for name in cut:
                cluster.heal(nodes, name)
        healed_at = time.time()
        phase("healed")
        partition = {"cut": cut, "seconds": round(healed_at - cut_at, 1)}
        time.sleep(20)  # orders flow on after the heal
        after = (healed_at, time.time())

    shopper.stop.set()
    shopper.join(timeout=120)
    assert not shopper.is_alive(), "the shop stopped placing orders"
    assert shopper.error is None, f"placing orders failed: {shopper.error!r}"
    outbox.publish_pending(shop)  # what a failed flush left behind, if anything

    phase("orders stopped; checking")
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
    spans = {"steady": steady}
    if partition:
        spans |= {"partition": (cut_at, healed_at), "after_heal": after}
    result = {"seconds": round(time.monotonic() - started, 1),
              "network": "netns" if net.namespaced else "loopback",
              "restarted_after_seconds": round(restarted_after, 1),
              "peak_rss_gib": round(memory.peak / 2**30, 2),
              "peak_rss_mib_by_command": memory.at_peak,
              "orders": shopper.chunks * 50, "acknowledged_order_events": len(acknowledged),
              "chunks_left_in_the_outbox": shopper.unpublished_chunks,
              "crashed_hosts": crashed, "partition": partition,
              "executor_tasks_by_worker_host": tasks,
              "batches": batch_timing(shop, spans)}
    (nodes.state_dir / "fault-test.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nfault test: {json.dumps(result)}")


def test_down_leaves_no_namespace_link_or_process(nodes: Settings) -> None:
    """Runs last (file order): the cluster stops, and nothing of it is left."""
    cluster.down(nodes)
    assert cluster.leftovers(nodes) == []
