"""Ranking rules: order, ties, positives only, the stream's incremental merge, windows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from streaming.counting import Counter, batch_input
from tests.support.keyed import Event, table
from topproducts.leaderboards.ranking import (
    Geometry,
    Granularity,
    ItemTotal,
    Metric,
    current_window_start,
    parse_duration,
    parse_window_id,
    rank,
    to_micros,
    window_id,
)


def item(v: int, q: int, r: str = "0.00") -> ItemTotal:
    return ItemTotal(v, f"P{v}", "Oak", v, None, q, Decimal(r))


def test_rank_orders_by_value_then_variant_id() -> None:
    items = [item(5, 3), item(2, 7), item(9, 3), item(1, 3)]
    ranked = rank(items, Metric.QUANTITY, 10)
    assert [(r.rank, r.item.variant_id) for r in ranked] == [(1, 2), (2, 1), (3, 5), (4, 9)]
    assert [r.value for r in ranked] == [7, 3, 3, 3]


def test_rank_by_revenue_is_exact_decimal() -> None:
    items = [item(1, 1, "0.10"), item(2, 1, "0.20"), item(3, 9, "0.30")]
    # 0.1 + 0.2 style values must compare exactly
    ranked = rank([*items, item(4, 1, "0.30")], Metric.REVENUE, 3)
    assert [r.item.variant_id for r in ranked] == [3, 4, 2]
    assert ranked[0].value == Decimal("0.30")


def test_rank_skips_non_positive_and_cuts_at_n() -> None:
    items = [item(1, 0), item(2, -1), item(3, 4), item(4, 2), item(5, 1)]
    assert [r.item.variant_id for r in rank(items, Metric.QUANTITY, 2)] == [3, 4]
    assert rank([item(1, 0)], Metric.QUANTITY, 5) == []


def counter_boards(counter: Counter, scope: str) -> dict[Metric, list[tuple]]:
    return {m: [(r.rank, r.item.key, r.value)
                for r in counter.boards.get((m, (Granularity.VARIANT, scope), None), [])]
            for m in Metric}


def full_rank(counter: Counter, scope: str) -> dict[Metric, list[tuple]]:
    cells = counter.all_time[(Granularity.VARIANT, scope)]
    items = [counter.item(Granularity.VARIANT, scope, None, k) for k in cells]
    return {m: [(r.rank, r.item.key, r.value) for r in rank(items, m, counter.top_n)]
            for m in Metric}


@pytest.mark.parametrize("seed", range(20))
def test_the_counters_incremental_all_time_board_equals_a_full_rank(seed: int) -> None:
    """The stream's own merge (:meth:`streaming.counting.Counter._rank`: the old top and the
    changed items, or every item after a top item lost value) against a full re-rank,
    batch by batch, with cancellations that take value from ranked items."""
    rng = random.Random(seed)
    g = Geometry.parse("1 hour", "5 minutes", "10 minutes")
    counter = Counter(g, top_n=rng.randint(1, 4))
    at = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    confirmed: list[Event] = []
    for b in range(8):
        batch = []
        for i in range(rng.randint(1, 6)):
            items = tuple((v, rng.randint(1, 4), f"{rng.randint(1, 9999) / 100:.2f}")
                          for v in rng.sample(range(1, 15), rng.randint(1, 3)))
            ev = Event(100 * b + i, "US", at, items)
            batch.append(ev)
            confirmed.append(ev)
        for ev in rng.sample(confirmed, min(len(confirmed), rng.randint(0, 2))):
            confirmed.remove(ev)
            batch.append(ev.cancelled(at))
        counter.apply(batch_input(table(batch), counter.watermark_us, g), to_micros(at))
        assert counter_boards(counter, "US") == full_rank(counter, "US"), b


def test_durations_and_windows() -> None:
    assert parse_duration("1 hour") == timedelta(hours=1)
    assert parse_duration("5 minutes") == timedelta(minutes=5)
    with pytest.raises(ValueError):
        parse_duration("soon")
    now = datetime(2026, 11, 25, 8, 7, 30, tzinfo=UTC)
    start = current_window_start(now, timedelta(hours=1), timedelta(minutes=5))
    assert start == datetime(2026, 11, 25, 7, 10, tzinfo=UTC)
    assert start <= now < start + timedelta(hours=1)
    assert window_id(start) == "2026-11-25T07:10:00Z"
    assert parse_window_id("2026-11-25T07:10:00Z") == start
    assert window_id(None) == "all" and parse_window_id("all") is None
