"""Ranking rules: order, ties, positives only, the incremental merge, windows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from topproducts.leaderboards.ranking import (
    ItemTotal,
    Metric,
    current_window_start,
    merge_top,
    parse_duration,
    parse_window_id,
    rank,
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


def test_merge_top_needs_full_rank_when_a_top_item_loses_value() -> None:
    old = [i for i in (item(1, 9), item(2, 5))]
    assert merge_top(old, [item(2, 4)], Metric.QUANTITY, 2) is None
    merged = merge_top(old, [item(3, 6)], Metric.QUANTITY, 2)
    assert merged is not None
    assert [r.item.variant_id for r in merged] == [1, 3]


@pytest.mark.parametrize("seed", range(30))
def test_merge_top_equals_full_rank_when_it_answers(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 5)
    state = {v: item(v, rng.randint(0, 6), f"{rng.randint(0, 900)}.{rng.randint(0, 99):02d}")
             for v in range(1, 15)}
    for metric in Metric:
        old = [r.item for r in rank(state.values(), metric, n)]
        changed = {}
        for v in rng.sample(sorted(state), rng.randint(1, 6)):
            q = state[v].quantity + rng.randint(-2, 5)
            changed[v] = item(v, q, f"{rng.randint(0, 900)}.{rng.randint(0, 99):02d}")
        after = {**state, **changed}
        merged = merge_top(old, changed.values(), metric, n)
        if merged is not None:
            assert merged == rank(after.values(), metric, n)


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
