"""End-to-end latency under load: a confirmed order in MySQL -> readable on the API's boards.

    .venv/bin/python -m bench.latency [--rate 1000] [--seconds 120] [--customers 2000]
                                      [--products 200]

Method (open loop, so a slow pipeline cannot slow the load down and hide its own delay):

1. An isolated shop: ``bench_lat_*`` databases, ``bench_lat.*`` topics, keyspace
   ``bench_lat`` and a temporary state dir (checkpoints, the stream's log); leftovers
   of an earlier run are dropped first. The shop is seeded and its outbox published.
2. One variant P is the *probe item*: its stock is raised to a huge number, and the
   random shoppers (:class:`~topproducts.shop.simulator.Shoppers`) order every variant
   but P. So P's quantity on the boards is exactly ``PROBE_QUANTITY`` x the number of
   probe orders the stream has counted.
3. The stream starts (a background process, as in production); once its query has
   consumed the orders topic to its end (JVM up, first batches done), a warm-up of
   ``warmup_seconds`` runs at the target rate (the JIT settles: ``WARMUP_SECONDS``);
   its probes are placed but not counted.
4. Ticks on a fixed schedule ``t_k = t0 + k * probe_every``. Each tick is ONE MySQL
   transaction, the simulator's mix (cancel a few orders, seconds to days old - never a probe -,
   move shipments, restock, place ``rate * probe_every`` shoppers' orders) plus ONE
   probe order (``PROBE_QUANTITY`` units of P, pay on delivery, accepted: confirmed at
   once). After the commit the outbox relay publishes on a worker thread (writing
   tick k+1 overlaps publishing tick k; one relay call at a time keeps outbox order).
   Late ticks are never skipped: they run at once, and their probes' latency includes
   the queueing delay.
5. A poller thread reads what the API reads, every ~50 ms, both at once: the GLOBAL
   quantity board of all time and of the current sliding window. Probe n (counting
   warm-up probes too) is *seen* when both boards rank P with quantity >= its
   threshold: ``n * PROBE_QUANTITY`` all-time, and ``PROBE_QUANTITY`` x the probes
   1..n confirmed inside the window for the window board. Latency = (end of the first
   poll that saw it) - t_k, on the monotonic clock: from when the order was due to when
   a reader could see it.

With ``--engine flink`` the Flink SQL peer (:mod:`bench.peers.flink`) counts instead of the
stream: it runs unbounded on the sandbox's orders topic, tuned for latency
(``PEER_LATENCY_FLAGS``), and the poller reads the same two boards from the peer's boards
topic, as a thread following it has them (:mod:`bench.peers.flink.boards`).

The CPU time each process used while the measured load ran is reported as cores
(``cpu_cores``: the services, the stream's Python driver and its Spark JVM apart, this
benchmark's producer) and as ms per order placed; ``stream_cpu_ms_per_order`` sums the
stream side (driver, Spark, Cassandra, Kafka; Cassandra's includes the poller's reads).
On a 2-core machine it tells whether the stream or the load side ran out of CPU.

At the end it waits up to 30 s for the last probes, records the stream's RSS, stops it,
reads the batch durations from the stream's progress history, and drops the sandbox.
The probe quantity is above the shop's per-line limit (5): the probe request is built
past :class:`~topproducts.shop.model.OrderRequest`'s check, on purpose, so that P
ranks first on both boards and its total is exact.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from bench.baselines import cpu_seconds, rss_mib
from bench.peers.flink.boards import ItemOnBoards
from bench.peers.flink.runner import running as flink_running
from tests.support import sandbox
from topproducts import db, kafka_io
from topproducts import stream_control as process
from topproducts.countries import GLOBAL_SCOPE
from topproducts.errors import TopProductsError
from topproducts.events import Topic
from topproducts.leaderboards.ranking import (
    ALL_TIME,
    Granularity,
    Metric,
    current_window_start,
    parse_duration,
    window_id,
)
from topproducts.leaderboards.store import STREAM_QUERY, LeaderboardStore, Progress, open_store
from topproducts.settings import Settings, get_settings
from topproducts.shop import outbox, sql
from topproducts.shop import seed as shop_seed
from topproducts.shop.cancelling import cancel_orders
from topproducts.shop.lifecycle import CUSTOMER_REQUEST
from topproducts.shop.model import LineRequest, OrderRequest
from topproducts.shop.outbox import Relay
from topproducts.shop.placing import place_orders
from topproducts.shop.reference import POD_METHODS
from topproducts.shop.retry import retrying
from topproducts.shop.schema import Tables
from topproducts.shop.shipments import advance_shipments
from topproducts.shop.simulator import (
    Customer,
    ShopperProfile,
    Shoppers,
    Timeline,
    cancel_candidates,
)
from topproducts.shop.sql import naive_utc
from topproducts.shop.stock import add_stock
from topproducts.stack.process import read_pid

NAME = "bench_lat"
PROBE_QUANTITY = 1000
PROBE_STOCK = 1_000_000_000
# Every 50 ms, both boards read at once (one burst of two requests). Each burst costs
# Cassandra ~4-5 ms of CPU whatever it reads (its request threads spin a while after any
# request; measured: ~4.5 ms per isolated read vs ~0.35 ms back to back), so the probe's
# reads at 25 ms one after the other took ~0.35 cores, counted as the stream side's.
POLL_SECONDS = 0.05
FINAL_WAIT_SECONDS = 30.0
CAUGHT_UP_TIMEOUT = 600.0
# The stream is a long-running JVM; what a reader sees is its steady state. Measured on
# the Spark JVM at 1,000 orders/s: the JIT compiler used 0.34 cores in the first 10 s
# under load, 0.24 at 20-30 s and 0.11-0.15 from 60 s on; at 300 orders/s (2026-12-06)
# 0.22 cores at 45 s, 0.12-0.14 at 90-180 s and 0.06-0.07 from 225 s on, when it was
# still more than half of the JVM's CPU at 60 s.
WARMUP_SECONDS = 180.0


# -- the probes and the poller ------------------------------------------------------

@dataclass
class Probe:
    n: int  # 1-based over every probe placed, warm-up included
    scheduled: float  # t_k, monotonic
    confirmed_at: datetime  # the order's confirmed_at (event time), UTC
    counted: bool  # False during the warm-up
    committed: float = 0.0  # monotonic, when its transaction committed
    seen: float | None = None  # monotonic


# The probe item's quantity on the GLOBAL quantity board (variant granularity) of the window
# starting at the given time (None: all-time), as a reader gets it from the engine's output.
BoardReader = Callable[[datetime | None], int]


def stream_reader(store: LeaderboardStore, variant_id: int) -> BoardReader:
    """What the API reads: the stream's boards in Cassandra."""
    def read(start: datetime | None) -> int:
        wid = ALL_TIME if start is None else window_id(start)
        board = store.top(Metric.QUANTITY, GLOBAL_SCOPE, wid, by=Granularity.VARIANT)
        return next((r.item.quantity for r in board.entries if r.item.variant_id == variant_id),
                    0)
    return read


def peer_reader(boards: ItemOnBoards) -> BoardReader:
    """The Flink peer's boards, from its upsert topic (windows named by their start, epoch
    seconds)."""
    def read(start: datetime | None) -> int:
        if boards.error is not None:
            raise TopProductsError(f"reading the peer's boards: {boards.error}")
        return boards.quantity("all" if start is None else str(int(start.timestamp())))
    return read


class Poller(threading.Thread):
    """Reads both GLOBAL quantity boards every ~50 ms and marks probes seen."""

    def __init__(self, read: BoardReader, settings: Settings) -> None:
        super().__init__(name="board-poller", daemon=True)
        self.read = read
        self.duration = parse_duration(settings.window_duration)
        self.slide = parse_duration(settings.window_slide)
        self.probes: list[Probe] = []
        self._confirmed: list[datetime] = []  # sorted: one writer, increasing clock
        self._next = 0  # probes before it are seen (thresholds grow with n)
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._reader = ThreadPoolExecutor(1, "board-poller-2")  # the second read, alongside
        self.polls = 0
        self.errors = 0
        self.last_error = ""

    def add(self, probe: Probe) -> None:
        with self._lock:
            self.probes.append(probe)
            self._confirmed.append(probe.confirmed_at)

    def all_seen(self) -> bool:
        with self._lock:
            return self._next == len(self.probes)

    def poll(self) -> None:
        start = current_window_start(datetime.now(UTC), self.duration, self.slide)
        both = self._reader.submit(self.read, start)
        q_all = self.read(None)
        q_win = both.result()
        seen_at = time.monotonic()
        self.polls += 1
        end = start + self.duration
        with self._lock:
            before = bisect.bisect_left(self._confirmed, start)  # confirmed before the window
            while self._next < len(self.probes):
                p = self.probes[self._next]
                in_window = p.n - min(before, p.n)
                if p.confirmed_at >= end:  # cannot happen while the clock moves forward
                    in_window -= 1
                if q_all < PROBE_QUANTITY * p.n or q_win < PROBE_QUANTITY * in_window:
                    break
                p.seen = seen_at
                self._next += 1

    def run(self) -> None:
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                self.poll()
            except Exception as exc:  # a read timeout: count it and poll again
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            self.stopping.wait(max(0.0, POLL_SECONDS - (time.monotonic() - began)))
        self._reader.shutdown(wait=False)


# -- the producer ---------------------------------------------------------------------

class _Shelf:
    """The shoppers' view of stock: read now and then, updated locally (as the simulator)."""

    REFRESH_TICKS = 20

    def __init__(self) -> None:
        self.stock: dict[int, int] | None = None
        self.age = 0

    def get(self, cur, t: Tables) -> dict[int, int]:
        if self.stock is None or self.age >= self.REFRESH_TICKS:
            cur.execute(f"SELECT variant_id, stock FROM {t.variants}")
            self.stock, self.age = dict(cur.fetchall()), 0
        self.age += 1
        return self.stock


@dataclass
class Tick:
    placed: int
    rejected: int
    probe_order: int | None
    confirmed_at: datetime
    write_s: float  # build and insert, up to the last statement (before COMMIT)
    commit_s: float
    phases: dict[str, float]  # seconds per part of write_s
    committed: float  # monotonic


@dataclass
class Timings:
    """Where the producer's time went, summed over the counted ticks."""

    ticks: int = 0
    write_s: float = 0.0
    commit_s: float = 0.0
    wait_relay_s: float = 0.0  # blocked on the previous tick's relay call
    relay_s: float = 0.0  # relay calls (on the worker thread)
    idle_s: float = 0.0  # sleeping until the next tick was due
    events: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    lags: list[float] = field(default_factory=list)  # start of each tick - t_k


def _probe_request(customer_id: int, variant_id: int) -> OrderRequest:
    """One line of ``PROBE_QUANTITY`` units of P: past the per-line limit on purpose."""
    request = OrderRequest(customer_id=customer_id,
                           lines=(LineRequest(variant_id, 1),),
                           payment_mode="pay_on_delivery",
                           payment_method=POD_METHODS[0], payment_ok=True)
    object.__setattr__(request, "lines", (LineRequest(variant_id, PROBE_QUANTITY),))
    return request


def _write_tick(conn, s: Settings, t: Tables, shoppers: Shoppers, shelf: _Shelf, n: int,
                probe: OrderRequest | None, probe_orders: set[int], timeline: Timeline) -> Tick:
    """One transaction: the simulator's mix for ``n`` orders, then the probe; commit."""
    profile = shoppers.profile
    now = datetime.now(UTC)
    started = time.perf_counter()
    phases: dict[str, float] = {}
    mark = started

    def lap(name: str) -> None:
        nonlocal mark
        now_ = time.perf_counter()
        phases[name] = now_ - mark
        mark = now_

    with conn.cursor() as raw:
        cur = sql.PipelinedCursor(raw)
        try:
            delays = shoppers.cancel_delays(n, timeline.age(now))  # as the simulator does
            candidates = [o for o in cancel_candidates(cur, t, timeline, now, delays)
                          if o not in probe_orders]
            cancel_orders(cur, s, candidates, CUSTOMER_REQUEST, now)
            lap("cancel")
            advance_shipments(cur, s, round(profile.shipment_steps_per_order * n), now)
            lap("ship")
            stock = shelf.get(cur, t)
            low = {v: profile.restock_amount for v, left in stock.items()
                   if left < profile.restock_below}
            add_stock(cur, t, low, naive_utc(now))
            for v, amount in low.items():
                stock[v] += amount
            requests = [r for r in (shoppers.order(stock) for _ in range(n)) if r]
            lap("shop")
            result = place_orders(cur, s, requests, now, skip_rejected=True)
            if result.placed:
                timeline.add(now, max(o.order_id for o in result.placed))
            lap("place")
            probe_order = None
            if probe is not None:
                probe_order = place_orders(cur, s, [probe], now).placed[0].order_id
            lap("probe")
            cur.wait()
            lap("flush")
            written = time.perf_counter()
            conn.commit()
            committed = time.perf_counter()
        except BaseException:
            cur.settle()
            conn.rollback()
            shelf.stock = None  # the local view counted work that was rolled back
            raise
    if result.rejected:
        shelf.stock = None
    return Tick(len(result.placed), len(result.rejected), probe_order, now,
                written - started, committed - written, phases,
                time.monotonic() - (time.perf_counter() - committed))


# -- helpers --------------------------------------------------------------------------

def _orders_end(s: Settings) -> dict[str, dict[int, int]]:
    topic = s.topic(Topic.ORDERS.value)
    consumer = kafka_io.consumer(f"{NAME}-offsets", s)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {topic: {p: consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                          timeout=10)[1] for p in parts}}
    finally:
        consumer.close()


def _wait_caught_up(s: Settings, store: LeaderboardStore, timeout: float) -> None:
    target = _orders_end(s)
    topic = s.topic(Topic.ORDERS.value)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = next((p for p in store.progress() if p.query == STREAM_QUERY), None)
        if row is not None and row.offsets().get(topic) == target[topic]:
            return
        if process.running_pid(s) is None:
            raise TopProductsError(f"the stream died; see {process.log_file(s)}")
        time.sleep(0.25)
    raise TopProductsError(f"stream not caught up after {timeout:.0f}s; "
                           f"see {process.log_file(s)}")


def _wait_peer_ready(boards: ItemOnBoards, timeout: float) -> None:
    """Until the peer has written its first boards (it counted the orders topic so far)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if boards.error is not None:
            raise TopProductsError(f"reading the peer's boards: {boards.error}")
        if boards.messages:
            return
        time.sleep(0.25)
    raise TopProductsError(f"the Flink peer wrote no board after {timeout:.0f}s")


def _wait_topics_gone(s: Settings, timeout: float = 30.0) -> None:
    names = {s.topic(t.value) for t in Topic}
    client = kafka_io.admin(s)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not names & set(client.list_topics(timeout=10).topics):
            return
        time.sleep(0.5)


def _drop_all(s: Settings) -> None:
    sandbox.drop(s)
    _wait_topics_gone(s)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in [0, 1]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _history(store: LeaderboardStore, since: datetime, until: datetime) -> list[Progress]:
    days: list[date] = []
    day = since.date()
    while day <= until.date():
        days.append(day)
        day += timedelta(days=1)
    rows = [p for d in days for p in store.progress_history(STREAM_QUERY, d, limit=1_000_000)]
    return [p for p in rows if since <= p.batch_at <= until]


LOAD = "bench (producer, relay, poller)"
DRIVER, SPARK = "stream driver (Python)", "stream Spark (JVM)"
FLINK = "Flink peer (Python + JVM)"
# the stream side of Kafka: what an order costs once it is an event (issue goal: <= 1.5 ms)
STREAM_SIDE = (DRIVER, SPARK, "cassandra", "kafka")
# the peer's side: it writes its boards to Kafka, Cassandra idles
PEER_SIDE = (FLINK, "kafka")
ENGINES = ("stream", "flink")
# The peer tuned for latency, as the stream is (its trigger is 0.2 s): a mini-batch of
# 0.2 s, the sinks' buffer written every 0.1 s. Checkpoints stay every 10 s: the upsert
# sink's writes are visible at once, a checkpoint only bounds what a restart replays.
PEER_LATENCY_FLAGS = ("--mini-batch-ms", "200", "--mini-batch-rows", "20000",
                      "--flush-ms", "100")


def _processes(base: Settings, s: Settings) -> dict[str, int]:
    """The processes that share the machine during the run: the services, the stream (its
    Python driver and the Spark JVM under it) and this benchmark (the load side)."""
    found = {LOAD: os.getpid()}
    for name in ("mariadb", "kafka", "cassandra"):
        pid = read_pid(base.run_dir / f"{name}.pid")
        if pid is not None:
            found[name] = pid
    stream = process.running_pid(s)
    if stream is not None:
        found[DRIVER] = stream
    return found


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far per process; the stream's driver alone, and the Spark JVM (its
    descendants) apart. The stream is this process's child: the benchmark counts its own
    threads alone."""
    out = {name: cpu_seconds(pid, descendants=name not in (LOAD, DRIVER))
           for name, pid in pids.items()}
    if DRIVER in pids:
        out[SPARK] = cpu_seconds(pids[DRIVER]) - out[DRIVER]
    return out


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


# -- the run --------------------------------------------------------------------------

@dataclass
class _Session:
    """What every phase of a run shares: the sandbox, the open clients, the shoppers,
    the probe and the poller (its probe numbers run on across phases)."""

    s: Settings
    t: Tables
    store: LeaderboardStore
    writer: Any
    relay: Relay
    pool: ThreadPoolExecutor
    shoppers: Shoppers
    shelf: _Shelf
    probe: OrderRequest
    timeline: Timeline
    poller: Poller
    pids: dict[str, int]
    probe_every: float
    max_lag_seconds: float
    engine: str = "stream"
    side: tuple[str, ...] = STREAM_SIDE
    probe_orders: set[int] = field(default_factory=set)
    publishing: Future[tuple[int, float]] | None = None


def _publish(x: _Session) -> tuple[int, float]:
    t0 = time.perf_counter()
    report = x.relay.publish_pending()
    return report.events, time.perf_counter() - t0


def _phase(x: _Session, rate: float, seconds: float, warmup_seconds: float) -> dict:
    """Place orders at ``rate`` on the tick schedule: ``warmup_seconds`` not counted, then
    ``seconds`` measured; wait (up to ``FINAL_WAIT_SECONDS``) for its probes; its figures."""
    say = print
    per_tick = rate * x.probe_every
    warm_ticks = round(warmup_seconds / x.probe_every)
    total_ticks = warm_ticks + max(1, round(seconds / x.probe_every))
    timings = Timings()
    placed = rejected = 0
    figures: dict = {"rate_target": rate, "seconds": seconds, "warmup_s": warmup_seconds}
    first_probe = len(x.poller.probes)
    t0 = time.monotonic()
    measured_from = t0 + warm_ticks * x.probe_every
    wall_from = datetime.now(UTC) + timedelta(seconds=warmup_seconds)
    cpu_by_from = _cpu(x.pids) if warm_ticks == 0 else {}
    for k in range(total_ticks):
        due = t0 + k * x.probe_every
        counted = k >= warm_ticks
        if k == warm_ticks and k:
            cpu_by_from = _cpu(x.pids)
            say(f"warm-up done ({warm_ticks} ticks); measuring {seconds:.0f}s")
        ahead = due - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
            if counted:
                timings.idle_s += ahead
        lag = time.monotonic() - due
        if lag > x.max_lag_seconds:
            figures["stopped_behind_schedule"] = True
            say(f"stopped: {lag:.0f}s behind schedule at tick {k}")
            break
        if counted:
            timings.lags.append(lag)
        n = int((k + 1) * per_tick) - int(k * per_tick)
        tick = retrying(lambda n=n: _write_tick(x.writer, x.s, x.t, x.shoppers, x.shelf, n,
                                                x.probe, x.probe_orders, x.timeline))
        assert tick.probe_order is not None
        x.probe_orders.add(tick.probe_order)
        x.poller.add(Probe(len(x.poller.probes) + 1, due, tick.confirmed_at, counted,
                           tick.committed))
        w0 = time.perf_counter()
        if x.publishing is not None:
            events, relay_s = x.publishing.result()
            if counted:
                timings.events += events
                timings.relay_s += relay_s
        if counted:
            timings.wait_relay_s += time.perf_counter() - w0
            timings.ticks += 1
            timings.write_s += tick.write_s
            timings.commit_s += tick.commit_s
            for name, sec in tick.phases.items():
                timings.phases[name] = timings.phases.get(name, 0.0) + sec
            placed += tick.placed  # the shoppers' orders; the probe is extra
            rejected += tick.rejected
        x.publishing = x.pool.submit(_publish, x)
    written_at = time.monotonic()
    if x.publishing is not None:
        events, relay_s = x.publishing.result()
        x.publishing = None
        timings.events += events
        timings.relay_s += relay_s
    published_at = time.monotonic()
    cpu_by = {name: sec - cpu_by_from.get(name, sec) for name, sec in _cpu(x.pids).items()}

    deadline = time.monotonic() + FINAL_WAIT_SECONDS
    while not x.poller.all_seen() and time.monotonic() < deadline:
        time.sleep(0.05)
    history = _history(x.store, wall_from, datetime.now(UTC)) if x.engine == "stream" else []

    probes = [p for p in x.poller.probes[first_probe:] if p.counted]
    latencies = [p.seen - p.scheduled for p in probes if p.seen is not None]
    from_commit = [p.seen - p.committed for p in probes if p.seen is not None]
    elapsed = max(written_at - measured_from, 1e-6)
    loaded = max(published_at - measured_from, 1e-6)
    durations = [float(p.batch_duration_ms) for p in history]
    figures.update({
        "orders_placed": placed,
        "orders_rejected": rejected,
        "orders_per_s": round(placed / elapsed, 1),  # shoppers' orders, probes aside
        "orders_per_s_with_probes": round((placed + timings.ticks) / elapsed, 1),
        "orders_per_s_published": round(placed / loaded, 1),
        "events_published": timings.events,
        "ticks_measured": timings.ticks,
        "probes_sent": len(probes),
        "latency_p50_s": _r(percentile(latencies, 0.50)),
        "latency_p99_s": _r(percentile(latencies, 0.99)),
        "latency_max_s": _r(max(latencies, default=None)),
        "latency_mean_s": _r(statistics.fmean(latencies) if latencies else None),
        "latency_unseen": len(probes) - len(latencies),
        # commit -> seen: without the producer's queueing (relay + stream + read)
        "latency_from_commit_p50_s": _r(percentile(from_commit, 0.50)),
        "latency_from_commit_p99_s": _r(percentile(from_commit, 0.99)),
        "latency_from_commit_max_s": _r(max(from_commit, default=None)),
        "schedule_lag_end_s": _r(timings.lags[-1] if timings.lags else None),
        "schedule_lag_max_s": _r(max(timings.lags, default=None)),
        "tick_write_ms_mean": _r(1000 * timings.write_s / max(1, timings.ticks), 1),
        **{f"tick_write_{name}_ms_mean": _r(1000 * sec / max(1, timings.ticks), 1)
           for name, sec in timings.phases.items()},
        "tick_commit_ms_mean": _r(1000 * timings.commit_s / max(1, timings.ticks), 1),
        "tick_wait_relay_ms_mean": _r(1000 * timings.wait_relay_s / max(1, timings.ticks), 1),
        "relay_call_ms_mean": _r(1000 * timings.relay_s / max(1, timings.ticks), 1),
        "producer_idle_share": _r(timings.idle_s / elapsed, 2),
        # who used the cores while the load ran (1.0 = one core busy all the time)
        "cpu_cores": {name: _r(sec / loaded, 2)
                      for name, sec in sorted(cpu_by.items(), key=lambda x: -x[1])},
        "cpu_cores_total": _r(sum(cpu_by.values()) / loaded, 2),
        # CPU per order placed, per process (ms): what an order costs each side
        "cpu_ms_per_order": {name: _r(1000 * sec / max(1, placed), 3)
                             for name, sec in sorted(cpu_by.items(), key=lambda x: -x[1])},
        # the engine's side (the stream's, or the peer's with --engine flink)
        "stream_cpu_ms_per_order": _r(1000 * sum(cpu_by.get(n, 0.0) for n in x.side)
                                      / max(1, placed), 3),
        "load_cpu_ms_per_order": _r(1000 * sum(v for n, v in cpu_by.items()
                                               if n not in STREAM_SIDE + PEER_SIDE)
                                    / max(1, placed), 3),
        "batches": len(history),
        "batch_ms_mean": _r(statistics.fmean(durations) if durations else None, 0),
        "batch_ms_p99": _r(percentile(durations, 0.99), 0),
        "batch_input_rows_mean": _r(statistics.fmean([p.input_rows for p in history])
                                    if history else None, 0),
        "load_average_1m": round(os.getloadavg()[0], 2),
    })
    return figures


@contextmanager
def _session(settings: Settings, rate: float, probe_every: float, customers: int,
             products: int, max_lag_seconds: float, figures: dict, engine: str = "stream",
             peer_flags: Sequence[str] = PEER_LATENCY_FLAGS) -> Iterator[_Session]:
    """A sandboxed shop with the engine started and caught up (the stream, or with
    ``engine="flink"`` the Flink SQL peer on the same orders topic), and the poller running;
    dropped at the end (the engine's log is kept)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    state_dir = Path(tempfile.mkdtemp(prefix="bench-lat-"))
    s = sandbox.isolated(settings, NAME, state_dir)
    t = Tables.of(s)
    say = print
    _drop_all(s)
    try:
        seeded = shop_seed.seed(s, customers, products, seed=1)
        outbox.publish_pending(s)
        say(f"seeded {customers:,} customers, {products:,} products in {seeded.seconds:.1f}s")
        with db.transaction(s) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT customer_id, country_code FROM {t.customers} "
                        "ORDER BY customer_id")
            shop_customers = [Customer(*row) for row in cur.fetchall()]
            cur.execute(f"SELECT variant_id FROM {t.variants} ORDER BY price_usd, variant_id")
            variants = [row[0] for row in cur.fetchall()]
            probe_item = variants[0]  # the cheapest: the probe's money stays small
            add_stock(cur, t, {probe_item: PROBE_STOCK}, naive_utc(datetime.now(UTC)))
            timeline = Timeline()
            timeline.load(cur, t)
        shoppers = Shoppers(random.Random(1), shop_customers,
                            [v for v in variants if v != probe_item],
                            ShopperProfile.configured(s))
        figures["probe_variant"] = probe_item
        with open_store(s) as store, closing(db.connect(s)) as writer, Relay(s) as relay, \
                ThreadPoolExecutor(1, "relay") as pool, ExitStack() as running:
            shelf = _Shelf()
            # Something in the orders topic before the engine starts: its first batches.
            retrying(lambda: _write_tick(writer, s, t, shoppers, shelf, max(1, int(rate)),
                                         None, set(), timeline))
            relay.publish_pending()
            began = time.monotonic()
            side: tuple[str, ...]
            if engine == "flink":
                peer = running.enter_context(flink_running(s, s.topic(Topic.ORDERS.value),
                                                           extra=tuple(peer_flags)))
                boards = running.enter_context(ItemOnBoards(s, f"{peer.out}.boards",
                                                            str(probe_item)))
                _wait_peer_ready(boards, CAUGHT_UP_TIMEOUT)
                read, side = peer_reader(boards), PEER_SIDE
            else:
                process.start(s)
                _wait_caught_up(s, store, CAUGHT_UP_TIMEOUT)
                read, side = stream_reader(store, probe_item), STREAM_SIDE
            pids = _processes(settings, s)  # the stream's driver, when it runs
            if engine == "flink":
                pids[FLINK] = peer.pid
            figures[f"{engine}_ready_s"] = round(time.monotonic() - began, 1)
            say(f"{engine} ready (started, caught up) in {figures[f'{engine}_ready_s']}s")
            x = _Session(s, t, store, writer, relay, pool, shoppers, shelf,
                         _probe_request(shop_customers[0].customer_id, probe_item), timeline,
                         Poller(read, s), pids, probe_every, max_lag_seconds, engine, side)
            x.poller.start()
            try:
                yield x
            finally:
                x.poller.stopping.set()
                x.poller.join(10)
                if engine == "flink":
                    figures["peer_flink_rss_mib"] = round(rss_mib(pids[FLINK]), 0)
                    figures["peer_flink_log"] = str(peer.log)
                else:
                    pid = process.running_pid(s)
                    figures["stream_rss_mib"] = round(rss_mib(pid), 0) if pid else None
                    figures["stream_alive_at_end"] = pid is not None
                    figures["stream_log"] = str(process.log_file(s))
                figures["poller_polls"] = x.poller.polls
                figures["poller_errors"] = x.poller.errors
                if x.poller.last_error:
                    figures["poller_last_error"] = x.poller.last_error
    finally:
        if process.running_pid(s) is not None:
            process.stop(s)
        _drop_all(s)
        shutil.rmtree(s.checkpoint_dir, ignore_errors=True)  # keep the log for reading


def _check_args(rates: Sequence[float], seconds: float, probe_every: float,
                warmup_seconds: float) -> None:
    if not rates or min(rates) <= 0 or seconds <= 0 or probe_every <= 0 or warmup_seconds < 0:
        raise ValueError("rates, seconds and probe_every must be positive, warm-up >= 0")


def run_latency(settings: Settings, rate: float = 1000.0, seconds: float = 120.0,
                probe_every: float = 0.1, warmup_seconds: float = WARMUP_SECONDS, *,
                customers: int = 2000, products: int = 200,
                max_lag_seconds: float = 120.0, engine: str = "stream",
                peer_flags: Sequence[str] = PEER_LATENCY_FLAGS) -> dict:
    """Measure order-to-board latency at ``rate`` orders/s for ``seconds`` (module doc).

    ``settings`` is the base (the real stack's); the run lives in its own sandbox.
    Late ticks are never skipped, but if the producer falls ``max_lag_seconds`` behind
    the schedule the run ends there (``stopped_behind_schedule``), the figures cover the
    ticks done. ``engine="flink"`` measures the Flink SQL peer instead of the stream,
    reading its boards from its output topic (:mod:`bench.peers.flink.boards`).
    Returns the figures as a dict (seconds, orders/s, MiB), and prints them.
    """
    _check_args([rate], seconds, probe_every, warmup_seconds)
    figures: dict = {"probe_every_s": probe_every, "engine": engine}
    with _session(settings, rate, probe_every, customers, products, max_lag_seconds,
                  figures, engine, peer_flags) as x:
        figures.update(_phase(x, rate, seconds, warmup_seconds))
        figures["probes_warmup"] = len(x.poller.probes) - figures["probes_sent"]
    for key, value in figures.items():
        print(f"{key}: {value}")
    return figures


def capacity(steps: Sequence[dict], p99_limit_s: float = 1.0) -> float | None:
    """The highest target rate of ``steps`` (in the order run, rates rising) up to which
    every step kept p99 within ``p99_limit_s``, saw every probe and kept its schedule;
    None when the first step already did not."""
    best = None
    for step in steps:
        p99 = step.get("latency_p99_s")
        if (p99 is None or p99 > p99_limit_s or step.get("latency_unseen")
                or step.get("stopped_behind_schedule")):
            break
        best = step["rate_target"]
    return best


def run_steps(settings: Settings, rates: Sequence[float] = (100, 200, 300, 500, 700, 1000),
              seconds: float = 60.0, probe_every: float = 0.1,
              warmup_seconds: float = WARMUP_SECONDS, *, customers: int = 2000,
              products: int = 200, p99_limit_s: float = 1.0,
              max_lag_seconds: float = 60.0, engine: str = "stream",
              peer_flags: Sequence[str] = PEER_LATENCY_FLAGS) -> dict:
    """A step run: one stream (or the Flink peer: ``engine``), warmed up once at the first
    rate, then ``seconds`` at each rate in turn (each waits for its own probes before the
    next); per step p50/p99/unseen, CPU per process (cores, and ms per order), and the
    highest rate whose p99 stays within ``p99_limit_s`` (``capacity_orders_per_s``). Steps
    stop after the first that falls ``max_lag_seconds`` behind its schedule."""
    _check_args(rates, seconds, probe_every, warmup_seconds)
    figures: dict = {"probe_every_s": probe_every, "p99_limit_s": p99_limit_s,
                     "engine": engine}
    steps: list[dict] = []
    with _session(settings, rates[0], probe_every, customers, products, max_lag_seconds,
                  figures, engine, peer_flags) as x:
        for i, rate in enumerate(rates):
            print(f"== step {i + 1}/{len(rates)}: {rate:g} orders/s for {seconds:g}s")
            step = _phase(x, rate, seconds, warmup_seconds if i == 0 else 5.0)
            steps.append(step)
            cores = step["cpu_cores"]
            print(f"   p50 {step['latency_p50_s']} s, p99 {step['latency_p99_s']} s, unseen "
                  f"{step['latency_unseen']}, {step['orders_per_s']} orders/s placed; "
                  f"{engine} side {step['stream_cpu_ms_per_order']} ms CPU per order; cores "
                  + ", ".join(f"{k.split(' (')[0]} {v}" for k, v in cores.items()))
            if step.get("stopped_behind_schedule"):
                break
    figures["steps"] = steps
    figures["capacity_orders_per_s"] = capacity(steps, p99_limit_s)
    print(f"capacity at p99 <= {p99_limit_s:g} s: {figures['capacity_orders_per_s']} "
          f"orders/s (target rates {', '.join(f'{r:g}' for r in rates)})")
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="orders/s to place")
    ap.add_argument("--seconds", type=float, default=120.0, help="length of the measured run")
    ap.add_argument("--warmup", type=float, default=WARMUP_SECONDS,
                    help="warm-up seconds (not counted)")
    ap.add_argument("--probe-every", type=float, default=0.1, help="seconds between ticks")
    ap.add_argument("--max-lag", type=float, default=120.0,
                    help="end the run when this far behind schedule (s)")
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--products", type=int, default=200)
    ap.add_argument("--engine", choices=ENGINES, default="stream",
                    help="what counts the orders: the stream, or the Flink SQL peer "
                         "(bench/peers/flink) read from its boards topic")
    ap.add_argument("--peer-flags", default=" ".join(PEER_LATENCY_FLAGS),
                    help="the Flink job's flags with --engine flink")
    ap.add_argument("--steps", type=str, default=None,
                    help="a step run: comma-separated rates (e.g. 100,200,300,500,700,1000), "
                         "--seconds each; prints the highest rate whose p99 stays <= 1 s")
    args = ap.parse_args(argv)
    if args.steps:
        try:
            rates = [float(r) for r in args.steps.split(",")]
        except ValueError:
            ap.error(f"--steps: not a list of numbers: {args.steps!r}")
        run_steps(get_settings(), rates, args.seconds, args.probe_every, args.warmup,
                  customers=args.customers, products=args.products,
                  max_lag_seconds=args.max_lag, engine=args.engine,
                  peer_flags=args.peer_flags.split())
        return 0
    run_latency(get_settings(), args.rate, args.seconds, args.probe_every, args.warmup,
                customers=args.customers, products=args.products, max_lag_seconds=args.max_lag,
                engine=args.engine, peer_flags=args.peer_flags.split())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
