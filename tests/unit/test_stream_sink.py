"""foreachBatch logic against an in-memory store: absolute writes, re-ranking, replays."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from streaming.progress import progress_row
from streaming.reference import InMemoryStore as FakeStore
from streaming.sink import apply_totals
from topproducts.leaderboards.ranking import ItemTotal, Metric, rank
from topproducts.leaderboards.store import ALL, TotalRow, Window

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def row(scope: str, v: int, q: int, r: str, window: Window = ALL) -> TotalRow:
    return TotalRow(scope, window, ItemTotal(v, v, f"P{v}", "Oak", q, Decimal(r)))


def board(store: FakeStore, metric: Metric, scope: str = "GLOBAL", wid: str = "all"):
    return [(x.rank, x.item.variant_id, x.value) for x in store.boards[(metric, scope, wid)]]


def test_ranks_follow_absolute_totals_and_fallen_items_disappear() -> None:
    store = FakeStore()
    apply_totals(store, [row("GLOBAL", v, v, f"{10 - v}.00") for v in range(1, 6)], 3, NOW)
    assert board(store, Metric.QUANTITY) == [(1, 5, 5), (2, 4, 4), (3, 3, 3)]
    assert board(store, Metric.REVENUE) == [(1, 1, Decimal("9.00")), (2, 2, Decimal("8.00")),
                                            (3, 3, Decimal("7.00"))]
    # variant 1 jumps to the top by quantity; variant 3 falls out of the top 3
    apply_totals(store, [row("GLOBAL", 1, 50, "9.00")], 3, NOW)
    assert board(store, Metric.QUANTITY) == [(1, 1, 50), (2, 5, 5), (3, 4, 4)]
    assert store.full_reads == 0


def test_cancellation_of_a_top_item_re_ranks_from_all_totals() -> None:
    store = FakeStore()
    apply_totals(store, [row("IN", v, v * 2, f"{v}.00") for v in range(1, 6)], 2, NOW)
    assert board(store, Metric.QUANTITY, "IN") == [(1, 5, 10), (2, 4, 8)]
    apply_totals(store, [row("IN", 5, 0, "0.00")], 2, NOW)  # all of variant 5 cancelled
    assert board(store, Metric.QUANTITY, "IN") == [(1, 4, 8), (2, 3, 6)]
    assert store.full_reads == 1  # one (scope, window) partition read for both metrics


def test_replaying_a_batch_writes_the_same_rows() -> None:
    store = FakeStore()
    first = [row("GLOBAL", v, v, f"{v}.50") for v in range(1, 8)]
    apply_totals(store, first, 4, NOW)
    batch = [row("GLOBAL", 2, 1, "0.10"), row("GLOBAL", 9, 30, "99.99")]
    apply_totals(store, batch, 4, NOW)
    snapshot = (json.dumps({str(k): v for k, v in store.totals.items()}, default=str),
                dict(store.boards))
    apply_totals(store, batch, 4, NOW)  # the crash-and-replay case
    assert (json.dumps({str(k): v for k, v in store.totals.items()}, default=str),
            dict(store.boards)) == snapshot
    for metric in Metric:
        expected = rank(store.totals[("GLOBAL", "all")].values(), metric, 4)
        assert store.boards[(metric, "GLOBAL", "all")] == expected


def test_windows_are_separate_partitions() -> None:
    store = FakeStore()
    w = Window(datetime(2026, 11, 25, 7, 5, tzinfo=UTC), datetime(2026, 11, 25, 8, 5, tzinfo=UTC))
    apply_totals(store, [row("US", 1, 2, "3.00", w), row("US", 2, 1, "1.00")], 10, NOW)
    assert board(store, Metric.QUANTITY, "US", "2026-11-25T07:05:00Z") == [(1, 1, 2)]
    assert board(store, Metric.QUANTITY, "US", "all") == [(1, 2, 1)]


def test_progress_row_from_spark_progress_json() -> None:
    raw = {
        "id": "q-id", "runId": "run-1", "name": "leaderboard_windows",
        "timestamp": "2026-11-25T08:00:02.000Z", "batchId": 7, "batchDuration": 812,
        "numInputRows": 120, "inputRowsPerSecond": 60.0, "processedRowsPerSecond": 147.8,
        "eventTime": {"watermark": "2026-11-25T07:50:00.000Z"},
        "stateOperators": [{"numRowsTotal": 300, "numRowsDroppedByWatermark": 0},
                           {"numRowsTotal": 40, "numRowsDroppedByWatermark": 3}],
        "sources": [{"endOffset": {"shop.orders": {"0": 10, "2": 7, "1": 5}}}],
    }
    p = progress_row(raw, late_total_before=4, now=NOW)
    assert (p.query, p.batch_id, p.input_rows, p.late_rows_dropped) == (
        "leaderboard_windows", 7, 120, 3)
    assert p.late_rows_dropped_total == 7 and p.state_rows == 340
    assert p.offsets() == {"shop.orders": {0: 10, 1: 5, 2: 7}}
    assert p.watermark == datetime(2026, 11, 25, 7, 50, tzinfo=UTC)
    no_wm = progress_row({**raw, "eventTime": {"watermark": "1970-01-01T00:00:00.000Z"},
                          "sources": [{"endOffset": json.dumps({"t": {"0": 1}})}]}, 0, NOW)
    assert no_wm.watermark is None and no_wm.offsets() == {"t": {0: 1}}
