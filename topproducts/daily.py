"""Daily leaderboards from the MySQL ledger: build a day, and check it two ways.

- :func:`build_day` reads the day's variant totals from MySQL (the rule in
  :mod:`topproducts.leaderboards.daily`), ranks them with the live boards' transforms and
  writes the day's rows to Cassandra, whole.
- :func:`check_against_sql` recomputes every board of the day in SQL alone (roll-up,
  ``ROW_NUMBER()`` ranking with the same tie rule) and compares with what is stored.
- :func:`check_against_stream` compares the current day's stored totals with the sum of
  the stream's panes over the same span: the batch path against the streaming path.

Why MySQL and not Kafka for past days: MySQL is the ground truth the live boards are
reconciled against; a day is a plain range query on ``confirmed_at``, so a day can be
rebuilt alone, in any order, as often as wanted (idempotent per day), and it needs no
stream state, checkpoint or retained topic.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from topproducts import db, monitor, reconcile
from topproducts.countries import GLOBAL_SCOPE, SCOPES
from topproducts.events import Topic
from topproducts.leaderboards import daily as rule
from topproducts.leaderboards import windowing
from topproducts.leaderboards.ranking import (
    Geometry,
    Granularity,
    ItemTotal,
    Metric,
    parse_duration,
    to_micros,
)
from topproducts.leaderboards.store import STREAM_QUERY, LeaderboardStore
from topproducts.money import from_cents
from topproducts.reconcile import unpublished_events
from topproducts.settings import Settings
from topproducts.shop.schema import Tables
from topproducts.shop.sql import naive_utc

# The counting rule over MySQL for one day: the windowing rule's SQL with the day's cut-off
# (see topproducts.leaderboards.daily)
_COUNTED = windowing.COUNTED_SQL

_LEDGER_SQL = """
    SELECT o.country_code, i.variant_id, i.product_id, MIN(i.product_name), i.material,
           MIN(s.name), SUM(i.quantity), SUM(i.revenue_usd)
    FROM {orders} o JOIN {order_items} i ON i.order_id = o.order_id
    LEFT JOIN {variants} v ON v.variant_id = i.variant_id
    LEFT JOIN {sellers} s ON s.seller_id = v.seller_id
    WHERE {counted}
    GROUP BY o.country_code, i.variant_id, i.product_id, i.material
"""


@dataclass(frozen=True)
class Span:
    """What one day's boards count: confirmations in [start, until), cancellations before
    ``cutoff``."""

    day: date
    until: datetime
    cutoff: datetime
    final: bool

    @classmethod
    def of(cls, day: date, now: datetime, settings: Settings) -> Span:
        slide = parse_duration(settings.window_slide)
        return cls(day, rule.counted_until(day, now, slide), rule.cutoff(day),
                   rule.is_final(day, now))

    @property
    def start(self) -> datetime:
        return rule.day_start(self.day)

    def params(self) -> tuple[datetime, datetime, datetime]:
        return naive_utc(self.start), naive_utc(self.until), naive_utc(self.cutoff)


def ledger(settings: Settings, span: Span) -> dict[str, list[ItemTotal]]:
    """The day's variant totals per country and GLOBAL, from MySQL."""
    t = Tables.of(settings)
    sql = _LEDGER_SQL.format(orders=t.orders, order_items=t.order_items, variants=t.variants,
                             sellers=t.sellers, counted=_COUNTED)
    per_country: dict[str, list[ItemTotal]] = defaultdict(list)
    conn = db.connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, span.params())
            for country, variant, product, name, material, seller, qty, revenue in cur.fetchall():
                per_country[country].append(ItemTotal(
                    product_id=int(product), product_name=name, material=material,
                    variant_id=int(variant), seller=seller, quantity=int(qty),
                    revenue_usd=Decimal(revenue)))
    finally:
        conn.close()
    return rule.with_global(per_country)


@dataclass(frozen=True)
class DayReport:
    span: Span
    variant_totals: int  # (country, variant) totals of the day
    units: int  # GLOBAL units of the day
    revenue_usd: Decimal  # GLOBAL revenue of the day
    boards: list[rule.DayBoard]
    leader: str | None  # the day's top product x material by revenue, globally


def build_day(settings: Settings, store: LeaderboardStore, day: date,
              now: datetime | None = None) -> DayReport:
    """Compute one day's boards from MySQL and write them (idempotent)."""
    now = now or datetime.now(UTC)
    span = Span.of(day, now, settings)
    totals = ledger(settings, span)
    boards = rule.day_boards(totals, SCOPES, settings.top_n)
    store.write_day(day, boards, {s: totals.get(s, []) for s in SCOPES}, span.until,
                    span.cutoff, span.final, now)
    glob = totals.get(GLOBAL_SCOPE, [])
    leader = next((b.entries[0].item.name for b in boards
                   if b.scope == GLOBAL_SCOPE and b.metric is Metric.REVENUE
                   and b.by is Granularity.PRODUCT_MATERIAL and b.entries), None)
    return DayReport(span, sum(len(v) for s, v in totals.items() if s != GLOBAL_SCOPE),
                     sum(i.quantity for i in glob),
                     sum((i.revenue_usd for i in glob), Decimal("0.00")), boards, leader)


# -- check 1: the stored boards equal an SQL query over MySQL --------------------------------

_KEY_COLUMNS = {  # (material, variant_id) of an item at each granularity, as SQL
    Granularity.PRODUCT: ("''", "0"),
    Granularity.PRODUCT_MATERIAL: ("material", "0"),
    Granularity.VARIANT: ("material", "variant_id"),
}

_RANKED_SQL = """
    WITH counted AS (
        SELECT o.country_code AS scope, i.product_id, i.material, i.variant_id, i.quantity,
               i.revenue_usd
        FROM {orders} o JOIN {order_items} i ON i.order_id = o.order_id
        WHERE {counted}
    ), scoped AS (
        SELECT scope, product_id, material, variant_id, quantity, revenue_usd FROM counted
        UNION ALL
        SELECT '{glob}', product_id, material, variant_id, quantity, revenue_usd FROM counted
    ), items AS (
        SELECT scope, product_id, {material} AS material, {variant} AS variant_id,
               SUM(quantity) AS quantity, SUM(revenue_usd) AS revenue
        FROM scoped GROUP BY 1, 2, 3, 4
    ), ranked AS (
        SELECT scope, product_id, material, variant_id, {value} AS value,
               ROW_NUMBER() OVER (PARTITION BY scope ORDER BY {value} DESC, product_id,
                                  CAST(material AS BINARY), variant_id) AS position
        FROM items WHERE {value} > 0
    )
    SELECT scope, position, product_id, material, variant_id, value FROM ranked
    WHERE position <= %s ORDER BY scope, position
"""


def sql_boards(settings: Settings, span: Span) -> dict[rule.BoardKey, list[rule.Entry]]:
    """Every board of the day computed by MySQL alone (no Python ranking involved)."""
    t = Tables.of(settings)
    out: dict[rule.BoardKey, list[rule.Entry]] = {
        (m, by, s): [] for m in Metric for by in Granularity for s in SCOPES}
    conn = db.connect(settings)
    try:
        with conn.cursor() as cur:
            for by, (material, variant) in _KEY_COLUMNS.items():
                for metric in Metric:
                    value = "quantity" if metric is Metric.QUANTITY else "revenue"
                    cur.execute(_RANKED_SQL.format(
                        orders=t.orders, order_items=t.order_items, counted=_COUNTED,
                        glob=GLOBAL_SCOPE, material=material, variant=variant, value=value),
                        (*span.params(), settings.top_n))
                    for scope, position, product, mat, var, val in cur.fetchall():
                        v = Decimal(int(val)) if metric is Metric.QUANTITY else Decimal(val)
                        out[(metric, by, scope)].append(
                            (int(position), (int(product), mat or "", int(var)), v))
    finally:
        conn.close()
    return out


def stored_boards(store: LeaderboardStore, day: date) -> dict[rule.BoardKey, list[rule.Entry]]:
    return {(m, by, s): rule.entries_of(store.daily_top(m, s, day, by=by).entries)
            for m in Metric for by in Granularity for s in SCOPES}


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    warn_only: bool = False  # not a wrong number: nothing could be compared, or it moved on
    metadata: dict = field(default_factory=dict)


def check_against_sql(settings: Settings, store: LeaderboardStore, day: date) -> CheckOutcome:
    """The stored boards of ``day`` equal the boards MySQL ranks itself, for what the stored
    day counted (its ``counted_until``)."""
    stored = store.daily_top(Metric.REVENUE, GLOBAL_SCOPE, day)
    if not stored.materialized:
        return CheckOutcome(False, f"{day} was never materialized")
    assert stored.counted_until is not None  # materialized
    span = Span(day, stored.counted_until, rule.cutoff(day), stored.final)
    problems = rule.differences(sql_boards(settings, span), stored_boards(store, day))
    n = len(Metric) * len(Granularity) * len(SCOPES)
    return CheckOutcome(
        not problems,
        f"{len(problems)} of {n} boards differ from MySQL" if problems
        else f"all {n} boards equal MySQL's own ranking",
        metadata={"boards": n, "differences": len(problems),
                  "first_differences": "\n".join(f"- {p}" for p in problems[:10]) or "none",
                  "counted_until": stored.counted_until.isoformat(), "final": stored.final})


# -- check 2: the current day against the stream -------------------------------------------

def check_against_stream(settings: Settings, store: LeaderboardStore, day: date,
                         now: datetime | None = None) -> CheckOutcome:
    """For the current day: the stored totals equal the stream's panes summed over the same
    span, read when nothing is in flight (outbox empty, the stream at Kafka's end).

    Exact because the current day counts up to a pane boundary and the stream keeps exact
    slices of each pane (cancellations land in the confirmation's pane); what the panes hold
    beyond the day's rule is computed from MySQL (:func:`windows_shift`). Other days: nothing
    to compare (a closed day keeps cancellations made after its cut-off).
    """
    now = now or datetime.now(UTC)
    if day != now.date():
        return CheckOutcome(True, f"{day} is not the current day: compared with MySQL only",
                            metadata={"compared": False})
    stored = store.daily_top(Metric.REVENUE, GLOBAL_SCOPE, day)
    if not stored.materialized:
        return CheckOutcome(False, f"{day} was never materialized")
    assert stored.counted_until is not None  # materialized
    topics = [settings.topic(Topic.ORDERS)]
    progress = {p.query: p for p in store.progress()}.get(STREAM_QUERY)
    if progress is None:
        return CheckOutcome(False, "the stream has not run in this keyspace: nothing to "
                                   "compare", warn_only=True, metadata={"compared": False})
    lag = monitor.lag(monitor.end_offsets(settings, topics), progress.offsets())
    unpublished = unpublished_events(settings)
    if lag or unpublished or progress.pending_boards:
        return CheckOutcome(False, f"not compared: {lag} events not yet processed, "
                                   f"{unpublished} not yet published", warn_only=True,
                            metadata={"compared": False, "lag": lag})
    start, until = rule.day_start(day), stored.counted_until
    stream = store.pane_totals_between(SCOPES, start, until)
    shift, facts = windows_shift(settings, store, start, until)
    batch = shifted(store.daily_totals(SCOPES, day), shift)
    problems = rule.totals_differences(batch, stream)
    meta = {"compared": True, "from": start.isoformat(), "until": until.isoformat(),
            "differences": len(problems), "late_facts": facts,
            "totals_shifted_by_the_rule": len(shift),  # panes keep what the day retracts
            "first_differences": "\n".join(f"- {p}" for p in problems[:10]) or "none"}
    if not problems:
        return CheckOutcome(True, f"the day's totals equal the stream's panes from "
                                  f"{start:%H:%M} to {until:%H:%M} UTC", metadata=meta)
    # The partition is older than the stream's view (a cancellation since): say so.
    mysql = shifted(ledger(settings, Span(day, until, rule.cutoff(day), False)), shift)
    if not rule.totals_differences(mysql, stream):
        return CheckOutcome(False, "the stream equals MySQL, the partition is older: "
                                   "re-materialize the day", warn_only=True, metadata=meta)
    return CheckOutcome(False, f"{len(problems)} totals differ between the day and the "
                               "stream's panes", metadata=meta)


Shift = dict[tuple[str, int], list[int]]  # (scope, variant) -> [quantity, cents]


def windows_shift(settings: Settings, store: LeaderboardStore, start: datetime,
                  until: datetime) -> tuple[Shift, int]:
    """What the stream's panes of ``[start, until)`` hold beyond the day's rule (the day
    retracts every cancellation until its cut-off), from MySQL and the stream's late facts:
    its panes keep the lines cancelled after every window containing them had ended
    (the windowing rule), and lack the facts that came after all their windows were final.
    Returns the shift per (scope, variant), GLOBAL included, and the late facts read."""
    g = Geometry.configured(settings)
    lo, hi = to_micros(start), to_micros(until)
    facts = [f for f in reconcile.late_facts_since(store, start, g)
             if lo <= to_micros(f.confirmed_at) < hi]
    by_rule = reconcile.rule_slices(settings, start, g)
    held = reconcile.as_the_stream_holds(settings, by_rule, facts, g)
    shift: Shift = {}
    for slices, sign, window_only in ((held, 1, True), (by_rule, -1, False)):
        for (country, variant, pane, from_end), (q, c) in slices.items():
            if pane < hi and (not window_only or from_end <= windowing.last_end(g, pane)):
                for scope in (country, GLOBAL_SCOPE):
                    windowing.add(shift, (scope, variant), sign * q, sign * c)
    return {k: v for k, v in shift.items() if v != [0, 0]}, len(facts)


def shifted(totals: dict[str, list[ItemTotal]], shift: Shift) -> dict[str, list[ItemTotal]]:
    """Variant totals per scope plus a shift (items only in the shift are named by id)."""
    out = {scope: {i.variant_id: i for i in items} for scope, items in totals.items()}
    for (scope, variant), (q, c) in shift.items():
        items = out.setdefault(scope, {})
        old = items.get(variant)
        base = old or ItemTotal(product_id=0, product_name="", material=None,
                                variant_id=variant, seller=None, quantity=0,
                                revenue_usd=Decimal("0.00"))
        items[variant] = replace(base, quantity=base.quantity + q,
                                 revenue_usd=base.revenue_usd + from_cents(c))
    return {scope: list(items.values()) for scope, items in out.items()}
