"""Reconciliation: leaderboard totals in Cassandra against the ground truth in MySQL.

The counting rule, stated over MySQL: an order line counts all-time when its order was
confirmed and not cancelled afterwards (``confirmed_at IS NOT NULL AND cancelled_at IS
NULL``); in a window by the windowing rule (:mod:`topproducts.leaderboards.windowing`:
confirmed inside it, start inclusive, end exclusive, and not cancelled before its end).
Scope GLOBAL is the sum of the countries.

The windows are compared with what the stream must hold: the rule, with each fact the
stream recorded as late (it came after windows it belongs to were final) moved out of
the windows it missed. A difference that no late fact explains is a mismatch.

Two comparisons: every variant total (the ledger Cassandra keeps), and every
published board at every granularity (product x material, product, variant) against
the top N ranked from MySQL's totals rolled up the same way.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from topproducts import db, monitor
from topproducts.countries import GLOBAL_SCOPE, SCOPES
from topproducts.events import Topic
from topproducts.leaderboards import windowing
from topproducts.leaderboards.ranking import (
    ALL_TIME,
    EPOCH,
    Geometry,
    Granularity,
    ItemTotal,
    Metric,
    from_micros,
    rank,
    roll_up,
    to_micros,
    window_id,
)
from topproducts.leaderboards.store import STREAM_QUERY, LeaderboardStore, open_store
from topproducts.leaderboards.windowing import LateFact
from topproducts.money import cents, from_cents
from topproducts.settings import Settings
from topproducts.shop import outbox
from topproducts.shop.schema import Tables
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
    t = Tables.of(settings)
    return {"orders": t.orders, "items": t.order_items}


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


# Each line's pane and, when cancelled, its cancellation's pane (µs): enough for the rule
_SLICES_SQL = """
    SELECT o.country_code, i.variant_id,
           FLOOR(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', o.confirmed_at) / %(s)s)
               * %(s)s AS pane,
           FLOOR(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', o.cancelled_at) / %(s)s)
               * %(s)s AS cancelled,
           SUM(i.quantity), SUM(i.revenue_usd)
    FROM {orders} o JOIN {items} i ON i.order_id = o.order_id
    WHERE o.confirmed_at IS NOT NULL AND o.confirmed_at >= %(since)s
    GROUP BY o.country_code, i.variant_id, pane, cancelled
"""

_LATE_LINES_SQL = """
    SELECT o.order_id, o.country_code, i.variant_id, SUM(i.quantity), SUM(i.revenue_usd)
    FROM {orders} o JOIN {items} i ON i.order_id = o.order_id
    WHERE o.order_id IN ({ids})
    GROUP BY o.order_id, o.country_code, i.variant_id
"""

Slices = dict[windowing.SliceKey, list[int]]  # -> [quantity, cents]


def rule_slices(settings: Settings, since: datetime, g: Geometry) -> Slices:
    """MySQL's lines confirmed from ``since`` on, as the rule's slices per country."""
    out: Slices = {}
    conn = db.connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(_SLICES_SQL.format(**_tables(settings)),
                        {"s": g.slide_us, "since": naive_utc(since)})
            for country, variant, pane, cancelled, quantity, revenue in cur.fetchall():
                for (p, from_end), sign in windowing.line_slices(
                        g, int(pane), None if cancelled is None else int(cancelled)):
                    windowing.add(out, (country, int(variant), p, from_end),
                                  sign * int(quantity), sign * cents(Decimal(revenue)))
    finally:
        conn.close()
    return out


def as_the_stream_holds(settings: Settings, slices: Slices, facts: list[LateFact],
                        g: Geometry) -> Slices:
    """The rule's slices with each late fact's lines moved from the slice the rule puts
    them in to the one the stream counted them in (none: they missed every window)."""
    out = {k: list(v) for k, v in slices.items()}
    if not facts:
        return out
    lines: dict[int, list[tuple[str, int, int, int]]] = defaultdict(list)
    ids = sorted({f.order_id for f in facts})
    conn = db.connect(settings)
    try:
        with conn.cursor() as cur:
            for i in range(0, len(ids), 1000):
                chunk = ids[i:i + 1000]
                cur.execute(_LATE_LINES_SQL.format(ids=", ".join(["%s"] * len(chunk)),
                                                   **_tables(settings)), chunk)
                for order_id, country, variant, quantity, revenue in cur.fetchall():
                    lines[int(order_id)].append((country, int(variant), int(quantity),
                                                 cents(Decimal(revenue))))
    finally:
        conn.close()
    for f in facts:
        pane = g.pane_of(to_micros(f.confirmed_at))
        for country, variant, quantity, amount in lines[f.order_id]:
            q, c = f.sign * quantity, f.sign * amount
            windowing.add(out, (country, variant, pane, to_micros(f.missed_from)), -q, -c)
            if f.counted_from is not None:
                windowing.add(out, (country, variant, pane, to_micros(f.counted_from)), q, c)
    return out


def windows_of_slices(slices: Slices, first_start: datetime, g: Geometry) -> dict[Key, Totals]:
    """Window totals per (scope, window, variant), GLOBAL included, from slices."""
    per_country = {
        Key(scope, window_id(from_micros(start)), variant): Totals(q, from_cents(c))
        for (scope, start, variant), (q, c) in windowing.window_totals(
            g, slices, to_micros(first_start)).items()}
    return with_global(per_country)


def late_facts_since(store, first_start: datetime, g: Geometry) -> list[LateFact]:
    """The stream's late facts of lines that windows from ``first_start`` on contain."""
    since = first_start - timedelta(microseconds=g.duration_us)
    days = [since.date() + timedelta(days=n)
            for n in range((datetime.now(UTC).date() - since.date()).days + 1)]
    return [f for f in store.late_facts(days) if f.confirmed_at >= since]


def ground_truth_windows(settings: Settings, first_start: datetime, g: Geometry,
                         facts: Sequence[LateFact] = ()) -> tuple[dict[Key, Totals], int]:
    """Windowed totals the stream must hold for every window starting at or after
    ``first_start`` (the rule, and the late ``facts``), and how many of them the facts
    changed (differences from the rule that the facts explain)."""
    rule = rule_slices(settings, first_start, g)
    expected = windows_of_slices(as_the_stream_holds(settings, rule, list(facts), g),
                                 first_start, g)
    if not facts:
        return expected, 0
    by_rule = windows_of_slices(rule, first_start, g)
    return expected, len(compare(by_rule, expected))


def unpublished_events(settings: Settings) -> int:
    """Outbox rows above the relay's position: not known to be in Kafka (the stream
    cannot have seen them)."""
    conn = db.connect(settings)
    try:
        with conn.cursor() as cur:
            return outbox.unpublished(cur, Tables.of(settings))
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
    late_facts: int = 0  # facts the stream recorded as late, in the compared windows
    explained: int = 0  # window totals that differ from the rule because of them
    first_late: tuple[str, ...] = ()  # the first of those facts, for a person to read

    @property
    def passed(self) -> bool:
        return self.consistent and not self.mismatches

    def summary(self) -> str:
        if not self.consistent:
            return (f"no quiet moment to compare: {self.lag} events not yet processed, "
                    f"{self.unpublished} not yet published")
        late = (f" ({self.explained} window totals differ from the rule, explained by "
                f"{self.late_facts} late facts)" if self.late_facts else "")
        if self.mismatches:
            return (f"{len(self.mismatches)} of {self.compared} totals and {self.boards} "
                    f"boards differ from MySQL{late}")
        return f"all {self.compared} totals and {self.boards} boards equal MySQL{late}"


def cassandra_totals(store, keys: list[tuple[str, str]]) -> dict[Key, Totals]:
    """Totals that Cassandra holds for the given (scope, window_id) partitions."""
    result = {}
    for (scope, wid), items in store.totals_many(keys, Granularity.VARIANT).items():
        for item in items:
            result[Key(scope, wid, item.variant_id)] = Totals(item.quantity, item.revenue_usd)
    return result


def run(settings: Settings, kind: str = ALL_TIME, wait_seconds: float | None = None,
        lookback: timedelta = timedelta(hours=3), store: LeaderboardStore | None = None
        ) -> Report:
    """Compare Cassandra with MySQL at a moment when nothing is in flight.

    Nothing is in flight when the outbox is empty and the stream's query has
    consumed up to Kafka's end offsets, both before and after the two reads (the
    end offsets unchanged). Waits up to ``wait_seconds`` for such a moment. Reads
    Cassandra through ``store`` (a Dagster run's session), else through its own.
    """
    if store is None:
        with open_store(settings) as own:
            return run(settings, kind, wait_seconds, lookback, own)
    query = STREAM_QUERY
    topics = [settings.topic(Topic.ORDERS)]
    scopes = list(SCOPES)
    g = Geometry.configured(settings)
    slide = timedelta(microseconds=g.slide_us)
    wait = settings.reconcile_wait_seconds if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    lag = unpublished = 0
    while True:
        before = monitor.end_offsets(settings, topics)
        unpublished = unpublished_events(settings)
        progress = {p.query: p for p in store.progress()}.get(query)
        consumed = progress.offsets() if progress else {}
        lag = monitor.lag(before, consumed)
        deferred = progress.pending_boards if progress else 0
        if lag == 0 and unpublished == 0 and deferred == 0:
            facts: list[LateFact] = []
            explained = 0
            if kind == ALL_TIME:
                expected = ground_truth(settings)
                keys = [(scope, ALL_TIME) for scope in scopes]
                n_windows = 1
            else:
                now = datetime.now(UTC)
                first = EPOCH + ((now - lookback - EPOCH) // slide) * slide
                facts = late_facts_since(store, first, g)
                expected, explained = ground_truth_windows(settings, first, g, facts)
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
                              0, 0, n_windows, len(boards), len(facts), explained,
                              tuple(str(f) for f in facts[:10]))
        if time.monotonic() >= deadline:
            return Report(kind, False, 0, [], lag, unpublished)
        time.sleep(1.0)
