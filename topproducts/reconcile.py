"""Reconciliation: leaderboard totals in Cassandra against the ground truth in MySQL.

The counting rule, stated over MySQL: an order line counts when its order was
confirmed and not cancelled afterwards (``confirmed_at IS NOT NULL AND
cancelled_at IS NULL``); in a window when ``confirmed_at`` falls inside it
(start inclusive, end exclusive). Scope GLOBAL is the sum of the countries.

Two comparisons: every variant total (the ledger Cassandra keeps), and every
published board at every granularity (product x material, product, variant) against
the top N ranked from MySQL's totals rolled up the same way.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from topproducts import db, monitor
from topproducts.countries import COUNTRIES, GLOBAL_SCOPE
from topproducts.errors import ConfigError
from topproducts.events import Topic
from topproducts.leaderboards.ranking import (
    ALL_TIME,
    EPOCH,
    Granularity,
    ItemTotal,
    Metric,
    parse_duration,
    rank,
    roll_up,
    window_id,
)
from topproducts.leaderboards.store import STREAM_QUERY, open_store
from topproducts.settings import Settings
from topproducts.shop.sql import naive_utc


@dataclass(frozen=True, order=True)
class Key:
    scope: str
    window_id: str
    variant_id: int


@dataclass(frozen=True)
class Totals:
    quantity: int
    revenue_usd: Decimal

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.quantity + other.quantity, self.revenue_usd + other.revenue_usd)


ZERO = Totals(0, Decimal("0.00"))


@dataclass(frozen=True)
class Mismatch:
    key: Key
    expected: Totals
    actual: Totals

    def __str__(self) -> str:
        k = self.key
        return (f"{k.scope}/{k.window_id}/variant {k.variant_id}: MySQL "
                f"{self.expected.quantity} units, {self.expected.revenue_usd} USD; Cassandra "
                f"{self.actual.quantity} units, {self.actual.revenue_usd} USD")


@dataclass(frozen=True)
class BoardMismatch:
    """A published board that is not the top N of MySQL's totals."""

    metric: Metric
    by: Granularity
    scope: str
    window_id: str
    expected: list[tuple]  # (rank, item key, value)
    actual: list[tuple]

    def __str__(self) -> str:
        diff = next((i for i, (e, a) in enumerate(zip(self.expected, self.actual, strict=False))
                     if e != a),
                    min(len(self.expected), len(self.actual)))
        return (f"board {self.metric}/{self.by}/{self.scope}/{self.window_id}: from rank "
                f"{diff + 1} MySQL says {self.expected[diff:diff + 2]}, Cassandra "
                f"{self.actual[diff:diff + 2]}")


def expected_boards(expected: Mapping[Key, Totals], info: Mapping[int, tuple[int, str]],
                    keys: list[tuple[str, str]], top_n: int
                    ) -> dict[tuple[Metric, Granularity, str, str], list[tuple]]:
    """The top N of every (metric, granularity, scope, window) in ``keys`` from MySQL's
    variant totals; ``info`` is each variant's (product_id, material)."""
    by_partition: dict[tuple[str, str], list[ItemTotal]] = defaultdict(list)
    for key, t in expected.items():
        product_id, material = info[key.variant_id]
        by_partition[(key.scope, key.window_id)].append(ItemTotal(
            product_id=product_id, product_name="", material=material,
            variant_id=key.variant_id, seller=None, quantity=t.quantity,
            revenue_usd=t.revenue_usd))
    out = {}
    for scope, wid in keys:
        for by in Granularity:
            rolled = roll_up(by_partition.get((scope, wid), []), by)
            for metric in Metric:
                out[(metric, by, scope, wid)] = [(r.rank, r.item.key, r.value)
                                                 for r in rank(rolled, metric, top_n)]
    return out


def compare_boards(store, expected: Mapping[tuple[Metric, Granularity, str, str], list[tuple]],
                   top_n: int) -> list[BoardMismatch]:
    mismatches = []
    for (metric, by, scope, wid), want in expected.items():
        got = [(r.rank, r.item.key, r.value)
               for r in store.top(metric, scope, wid, n=top_n, by=by).entries]
        if got != want:
            mismatches.append(BoardMismatch(metric, by, scope, wid, want, got))
    return mismatches


def variant_info(settings: Settings) -> dict[int, tuple[int, str]]:
    """(product_id, material) of every variant that was ordered."""
    conn = db.connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT variant_id, product_id, material FROM {items}".format(
                **_tables(settings)))
            return {int(v): (int(p), m) for v, p, m in cur.fetchall()}
    finally:
        conn.close()


def with_global(per_country: Mapping[Key, Totals]) -> dict[Key, Totals]:
    """Add the GLOBAL scope: for each (window, variant), the sum over countries."""
    result = dict(per_country)
    sums: dict[Key, Totals] = defaultdict(lambda: ZERO)
    for key, totals in per_country.items():
        if key.scope != GLOBAL_SCOPE:
            glob = Key(GLOBAL_SCOPE, key.window_id, key.variant_id)
            sums[glob] = sums[glob] + totals
    result.update(sums)
    return result


def compare(expected: Mapping[Key, Totals], actual: Mapping[Key, Totals]) -> list[Mismatch]:
    """Every key where the two disagree; a missing key counts as zero on that side."""
    mismatches = []
    for key in sorted(set(expected) | set(actual)):
        e, a = expected.get(key, ZERO), actual.get(key, ZERO)
        if (e.quantity, e.revenue_usd) != (a.quantity, a.revenue_usd):
            mismatches.append(Mismatch(key, e, a))
    return mismatches


_SQL = """
    SELECT o.country_code, i.variant_id, SUM(i.quantity), SUM(i.revenue_usd)
    FROM {orders} o JOIN {items} i ON i.order_id = o.order_id
    WHERE o.confirmed_at IS NOT NULL AND o.cancelled_at IS NULL
    GROUP BY o.country_code, i.variant_id
"""


def _tables(settings: Settings) -> dict[str, str]:
    database = settings.database("order_management")
    return {"orders": f"`{database}`.orders", "items": f"`{database}`.order_items"}


def ground_truth(settings: Settings) -> dict[Key, Totals]:
    """All-time totals from MySQL, per country and GLOBAL."""
    per_country: dict[Key, Totals] = {}
    conn = db.connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(_SQL.format(**_tables(settings)))
            for country, variant_id, quantity, revenue in cur.fetchall():
                per_country[Key(country, ALL_TIME, int(variant_id))] = Totals(
                    int(quantity), Decimal(revenue))
    finally:
        conn.close()
    return with_global(per_country)


_SLOTS_SQL = """
    SELECT o.country_code, i.variant_id,
           FLOOR(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', o.confirmed_at) / %s) AS slot,
           SUM(i.quantity), SUM(i.revenue_usd)
    FROM {orders} o JOIN {items} i ON i.order_id = o.order_id
    WHERE o.confirmed_at IS NOT NULL AND o.cancelled_at IS NULL AND o.confirmed_at >= %s
    GROUP BY o.country_code, i.variant_id, slot
"""


def windows_from_slots(
    slots: Mapping[tuple[str, int, int], Totals], first_start: datetime,
    duration: timedelta, slide: timedelta,
) -> dict[Key, Totals]:
    """Sliding-window totals from totals per slide-long slot (per country and variant).

    A window starting at ``s`` covers the slots ``s/slide .. s/slide + duration/slide - 1``.
    Only windows starting at or after ``first_start`` are produced: earlier ones would
    miss slots that were not read.
    """
    if duration % slide:
        raise ConfigError(f"window duration {duration} is not a multiple of the slide {slide}")
    width, step = duration // slide, int(slide.total_seconds())
    first_slot = int((first_start - EPOCH).total_seconds()) // step
    result: dict[Key, Totals] = defaultdict(lambda: ZERO)
    for (country, variant_id, slot), totals in slots.items():
        for start_slot in range(max(first_slot, slot - width + 1), slot + 1):
            wid = window_id(EPOCH + timedelta(seconds=start_slot * step))
            key = Key(country, wid, variant_id)
            result[key] = result[key] + totals
    return dict(result)


def ground_truth_windows(
    settings: Settings, first_start: datetime, duration: timedelta, slide: timedelta
) -> dict[Key, Totals]:
    """Windowed totals from MySQL for every window starting at or after ``first_start``."""
    sql = _SLOTS_SQL.format(**_tables(settings))
    slots: dict[tuple[str, int, int], Totals] = {}
    conn = db.connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, (int(slide.total_seconds()), naive_utc(first_start)))
            for country, variant_id, slot, quantity, revenue in cur.fetchall():
                slots[(country, int(variant_id), int(slot))] = Totals(int(quantity),
                                                                       Decimal(revenue))
    finally:
        conn.close()
    return with_global(windows_from_slots(slots, first_start, duration, slide))


def unpublished_events(settings: Settings) -> int:
    """Outbox rows not yet delivered to Kafka (the stream cannot have seen them)."""
    conn = db.connect(settings, settings.database("order_management"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
            return int(cur.fetchone()[0])
    finally:
        conn.close()



# -- a consistent comparison while the pipeline runs ---------------------------

@dataclass(frozen=True)
class Report:
    """The outcome of one reconciliation."""

    kind: str  # "all" or "windows"
    consistent: bool  # a quiet moment was found (nothing in flight between the reads)
    compared: int  # (scope, window, variant) keys compared
    mismatches: list[Mismatch | BoardMismatch]
    lag: int  # events the stream had not processed at the last attempt
    unpublished: int  # outbox rows not yet in Kafka at the last attempt
    windows: int = 0
    boards: int = 0  # published boards compared

    @property
    def passed(self) -> bool:
        return self.consistent and not self.mismatches

    def summary(self) -> str:
        if not self.consistent:
            return (f"no quiet moment to compare: {self.lag} events not yet processed, "
                    f"{self.unpublished} not yet published")
        if self.mismatches:
            return (f"{len(self.mismatches)} of {self.compared} totals and {self.boards} "
                    "boards differ from MySQL")
        return f"all {self.compared} totals and {self.boards} boards equal MySQL"


def cassandra_totals(store, keys: list[tuple[str, str]]) -> dict[Key, Totals]:
    """Totals that Cassandra holds for the given (scope, window_id) partitions."""
    result = {}
    for (scope, wid), items in store.totals_many(keys, Granularity.VARIANT).items():
        for item in items:
            result[Key(scope, wid, item.variant_id)] = Totals(item.quantity, item.revenue_usd)
    return result


def run(settings: Settings, kind: str = ALL_TIME, wait_seconds: float | None = None,
        lookback: timedelta = timedelta(hours=3)) -> Report:
    """Compare Cassandra with MySQL at a moment when nothing is in flight.

    Nothing is in flight when the outbox is empty and the stream's query has
    consumed up to Kafka's end offsets, both before and after the two reads (the
    end offsets unchanged). Waits up to ``wait_seconds`` for such a moment.
    """
    query = STREAM_QUERY
    topics = [settings.topic(Topic.ORDERS)]
    scopes = [GLOBAL_SCOPE, *(c.code for c in COUNTRIES)]
    duration = parse_duration(settings.window_duration)
    slide = parse_duration(settings.window_slide)
    wait = settings.reconcile_wait_seconds if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    lag = unpublished = 0
    with open_store(settings) as store:
        while True:
            before = monitor.end_offsets(settings, topics)
            unpublished = unpublished_events(settings)
            progress = {p.query: p for p in store.progress()}.get(query)
            consumed = progress.offsets() if progress else {}
            lag = monitor.lag(before, consumed)
            deferred = progress.pending_boards if progress else 0
            if lag == 0 and unpublished == 0 and deferred == 0:
                if kind == ALL_TIME:
                    expected = ground_truth(settings)
                    keys = [(scope, ALL_TIME) for scope in scopes]
                    n_windows = 1
                else:
                    now = datetime.now(UTC)
                    first = EPOCH + ((now - lookback - EPOCH) // slide) * slide
                    expected = ground_truth_windows(settings, first, duration, slide)
                    wids = {k.window_id for k in expected} | {
                        w.id for w in store.windows(GLOBAL_SCOPE, limit=500)
                        if w.start is not None and w.start >= first}
                    keys = [(scope, wid) for wid in sorted(wids) for scope in scopes]
                    n_windows = len(wids)
                actual = cassandra_totals(store, keys)
                boards = expected_boards(expected, variant_info(settings), keys,
                                         settings.top_n)
                board_mismatches = compare_boards(store, boards, settings.top_n)
                after = monitor.end_offsets(settings, topics)
                if after == before and unpublished_events(settings) == 0:
                    mismatches: list[Mismatch | BoardMismatch] = [
                        *compare(expected, actual), *board_mismatches]
                    return Report(kind, True, len(set(expected) | set(actual)), mismatches,
                                  0, 0, n_windows, len(boards))
            if time.monotonic() >= deadline:
                return Report(kind, False, 0, [], lag, unpublished)
            time.sleep(1.0)
