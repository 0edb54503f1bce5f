"""A plain-Python model of the counting rule, synthetic order events, and the leaderboard
store as dicts (:class:`InMemoryStore`): test support, never imported by the stream.

Tests and the benchmark produce events with :func:`synthetic_orders` and compute
what the leaderboards must say with :func:`expected_totals`, independently of Spark.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from streaming.store import BatchWrite, StoredChunk, StoredTotal, StreamState
from topproducts.countries import BY_CODE, COUNTRIES, GLOBAL_SCOPE
from topproducts.events import (
    Envelope,
    EventType,
    LineItem,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    make_event,
)
from topproducts.leaderboards.ranking import (
    DEFAULT_GRANULARITY,
    EPOCH,
    Geometry,
    Granularity,
    ItemTotal,
    Metric,
    parse_window_id,
    rank,
    roll_up,
    to_micros,
    window_id,
)
from topproducts.leaderboards.windowing import LateFact, counts_in
from topproducts.money import round_money
from topproducts.shop.reference import FX_RATES_USD

FX = FX_RATES_USD  # the shop's own rates: synthetic orders are priced as the shop prices


def windows_of(ts: datetime, duration: timedelta, slide: timedelta) -> list[datetime]:
    """Starts of the sliding windows that contain ``ts`` (Spark's epoch alignment)."""
    since = ts.astimezone(UTC) - EPOCH
    last = EPOCH + (since // slide) * slide
    starts, start = [], last
    while start > ts - duration:
        starts.append(start)
        start -= slide
    return sorted(starts)


Key = tuple[str, str]  # (scope, window_id)


def expected_totals(
    events: Iterable[Envelope], duration: timedelta | None = None,
    slide: timedelta | None = None,
) -> dict[Key, dict[int, ItemTotal]]:
    """Variant totals per (scope, window_id): all-time, plus windows if given (roll them up
    to a granularity with :func:`topproducts.leaderboards.ranking.roll_up`).

    Applies the counting rule, the windowing rule stated plainly
    (:func:`topproducts.leaderboards.windowing.counts_in`: a cancellation retracts from the
    windows that end after it) and the stream's dedupe by (order_id, event_type).
    Lateness is not modelled: use it for events produced in time order.
    """
    seen: set[tuple[int, str]] = set()
    acc: dict[Key, dict[int, list]] = defaultdict(dict)
    for ev in events:
        if ev.event_type not in (EventType.ORDER_CONFIRMED, EventType.ORDER_CANCELLED):
            continue
        p = ev.typed_payload()
        if p.confirmed_at is None:  # a cancellation before confirmation retracts nothing
            continue
        if (p.order_id, ev.event_type.value) in seen:
            continue
        seen.add((p.order_id, ev.event_type.value))
        sign = 1 if ev.event_type is EventType.ORDER_CONFIRMED else -1
        wids = ["all"]
        if duration and slide:
            confirmed = to_micros(p.confirmed_at)
            wids += [window_id(s) for s in windows_of(p.confirmed_at, duration, slide)
                     if sign > 0 or not counts_in(confirmed, to_micros(ev.occurred_at),
                                                  to_micros(s), to_micros(s + duration))]
        for item in p.items:
            for scope in (p.country, GLOBAL_SCOPE):
                for wid in wids:
                    cell = acc[(scope, wid)].setdefault(
                        item.variant_id, [item, 0, Decimal("0.00")])
                    cell[1] += sign * item.quantity
                    cell[2] += sign * item.revenue_usd
    return {
        key: {v: ItemTotal(product_id=it.product_id, product_name=it.product_name,
                           material=it.material, variant_id=v, seller=it.seller, quantity=q,
                           revenue_usd=r)
              for v, (it, q, r) in items.items()}
        for key, items in acc.items()
    }


def catalogue(variants: int, seed: int = 7) -> list[tuple[int, int, str, str, Decimal]]:
    """(variant_id, product_id, product_name, material, price_usd) for a synthetic shop."""
    rng = random.Random(seed)
    materials = ["Cotton", "Steel", "Oak", "Leather", "Glass", "Wool"]
    nouns = ["Chair", "Lamp", "Jacket", "Mug", "Desk", "Scarf", "Bottle", "Bag"]
    out = []
    for v in range(1, variants + 1):
        product = (v - 1) // 2 + 1
        out.append((v, product, f"{nouns[product % len(nouns)]} {product}",
                    rng.choice(materials),
                    Decimal(rng.randint(199, 19999)) / 100))
    return out


def synthetic_orders(
    n_orders: int, *, seed: int = 1, variants: int = 40, start: datetime | None = None,
    step: timedelta = timedelta(seconds=1), cancel_rate: float = 0.1, first_order_id: int = 1,
) -> list[Envelope]:
    """Placed + confirmed events per order, and some cancellations after confirmation."""
    rng = random.Random(seed)
    shop = catalogue(variants)  # the same shop whatever the order seed
    start = start or datetime.now(UTC)
    out: list[Envelope] = []
    for i in range(n_orders):
        order_id = first_order_id + i
        country = rng.choice(COUNTRIES)
        currency = country.currency
        fx = FX[currency]
        at = start + i * step
        items = []
        for line_no, (variant, product, name, material, price_usd) in enumerate(
                rng.sample(shop, rng.randint(1, 3)), start=1):
            qty = rng.randint(1, 4)
            unit = round_money(price_usd / fx)
            revenue = round_money(unit * qty)
            items.append(LineItem(line_no=line_no, variant_id=variant, product_id=product,
                                  product_name=name, material=material, quantity=qty,
                                  unit_price=unit, revenue=revenue,
                                  revenue_usd=round_money(revenue * fx),
                                  seller=f"Seller {variant % 3 + 1}"))
        base = dict(order_id=order_id, customer_id=rng.randint(1, 500),
                    country=BY_CODE[country.code].code, currency=currency, fx_rate_usd=fx,
                    total=round_money(sum(i.revenue for i in items) * Decimal("1.1")),
                    items=items)
        out.append(make_event(OrderPlaced(**base, payment_mode="prepaid"), occurred_at=at))
        out.append(make_event(OrderConfirmed(**base, confirmed_at=at), occurred_at=at))
        if rng.random() < cancel_rate:
            out.append(make_event(OrderCancelled(**base, reason="customer request",
                                                 confirmed_at=at), occurred_at=at + step))
    return out


class InMemoryStore:
    """The leaderboard tables as dicts, with Cassandra's upsert / partition-rewrite semantics.

    Implements what :mod:`streaming.sink` writes and reads, for tests without Cassandra.
    """

    def __init__(self, geometry: Geometry | None = None) -> None:
        self.geometry = geometry or Geometry.parse("1 hour", "5 minutes")
        # (scope, pane start or None, first window end of a later slice or None, variant)
        self.rows: dict[tuple[str, int | None, int | None, int], StoredTotal] = {}
        self.late: dict[tuple[int, str], LateFact] = {}
        self.boards: dict[tuple[Metric, Granularity, str, str], list] = {}
        self.dead: dict[tuple[str, int, int], object] = {}
        self.state: dict[str, StreamState] = {}
        self.chunks: dict[tuple[str, int], StoredChunk] = {}  # counted_orders
        self.writes = 0

    def write_batch(self, w: BatchWrite) -> None:
        self.writes += 1
        for t in w.totals:
            whole = t.period_us is None or t.from_end_us == t.period_us + self.geometry.slide_us
            from_end = None if whole else t.from_end_us
            key = (t.scope, t.period_us, from_end, t.variant_id)
            new, old = t.new, t.old
            if not t.described:  # an UPDATE of the numbers: the row keeps its descriptions
                kept = self.rows.get(key)
                assert kept is not None, f"numbers-only write of a row never written: {t}"
                new = replace(kept.new, quantity=new.quantity, revenue_usd=new.revenue_usd)
                if old is not None:
                    old = replace(kept.new, quantity=old.quantity, revenue_usd=old.revenue_usd)
            self.rows[key] = StoredTotal(t.scope, t.period_us, w.batch_id, new, old, from_end)
        for f in w.late_facts:
            self.late[(f.order_id, f.event_type)] = f
        self.write_boards(w.boards, w.now)
        self.state[w.state.query] = w.state
        for d in w.dead_letters:
            self.dead[(d.topic, d.partition, d.offset)] = d
        for c in w.counted:
            self.chunks[(c.event_type, c.chunk)] = StoredChunk(
                c.event_type, c.chunk, w.batch_id, c.bits, c.prev_bits)

    def write_boards(self, boards, now) -> None:
        for metric, by, scope, window, ranked in boards:
            self.boards[(metric, by, scope, window.id)] = list(ranked)

    def stream_state(self, query: str) -> StreamState | None:
        return self.state.get(query)

    def stored_chunks(self, event_types):
        return [c for c in list(self.chunks.values()) if c.event_type in event_types]

    def stored_totals(self, scopes, pane_horizon_us):
        for row in list(self.rows.values()):
            if row.scope in scopes and (row.period_us is None or pane_horizon_us is None
                                        or row.period_us >= pane_horizon_us):
                yield row

    def totals(self, scope: str, wid: str, by: Granularity = DEFAULT_GRANULARITY
               ) -> list[ItemTotal]:
        """What :meth:`LeaderboardStore.totals` reads: all-time, or a window's panes summed,
        rolled up to ``by``."""
        if wid == "all":
            return roll_up((row.new for (s, period, _, _), row in self.rows.items()
                            if s == scope and period is None), by)
        start = to_micros(parse_window_id(wid))  # type: ignore[arg-type]
        end = start + self.geometry.duration_us
        panes = set(self.geometry.panes_of_window(start))
        return roll_up((row.new for (s, period, from_end, _), row in self.rows.items()
                        if s == scope and period in panes
                        and (from_end is None or from_end <= end)), by)


def assert_store_matches(store: InMemoryStore, expected: dict, top_n: int) -> None:
    """Every granularity's totals and boards in the store equal the reference (call after
    the sink's flush: boards of windows other than the hot ones may be deferred)."""
    for (scope, wid), variants in expected.items():
        for by in Granularity:
            items = roll_up(variants.values(), by)
            assert store.totals(scope, wid, by) == items, (by, scope, wid)
            for metric in Metric:
                assert store.boards[(metric, by, scope, wid)] == rank(items, metric, top_n), (
                    metric, by, scope, wid)
    assert {(scope, wid) for _, _, scope, wid in store.boards} == set(expected)
