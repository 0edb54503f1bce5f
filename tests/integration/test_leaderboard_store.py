"""The stream's total rows in Cassandra: a known row gets its numbers only (an UPDATE),
and keeps its descriptive columns; a new or renamed item's row is written whole."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from streaming.counting import committed_value
from streaming.store import BatchWrite, StreamState, StreamStore, TotalChange
from topproducts.leaderboards.ranking import ItemTotal, from_micros, to_micros, window_id
from topproducts.settings import Settings

pytestmark = pytest.mark.integration

PANE = to_micros(datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
SLIDE = 300_000_000  # the sandbox's 5-minute panes
WHOLE, TAIL = (PANE, PANE + SLIDE), (PANE, PANE + 3 * SLIDE)  # a pane, and a later slice of it


def write(store, batch_id: int, totals: list[TotalChange]) -> None:
    store.write_batch(BatchWrite(
        query="test", batch_id=batch_id, totals=totals, boards=[], panes=[("US", PANE)], windows=[],
        state=StreamState("test", batch_id, None, 0, None, 0), dead_letters=[],
        now=datetime.now(UTC)))


def item(name: str, quantity: int, revenue: str) -> ItemTotal:
    return ItemTotal(product_id=7, product_name=name, material="Oak", variant_id=70,
                     seller="Acme", quantity=quantity, revenue_usd=Decimal(revenue))


def test_numbers_only_writes_keep_the_description_and_the_replaced_value(
        sandbox: Settings) -> None:
    with StreamStore.opened(sandbox) as store:
        write(store, 0, [TotalChange.of("US", period, item("Chair", 2, "20.00"))
                         for period in (None, WHOLE, TAIL)])
        numbers_only = [TotalChange("US", period, variant_id=70, product_id=7, material="Oak",
                                    product_name="Chair", seller="Acme", quantity=5,
                                    cents=5050, old_quantity=2, old_cents=2000,
                                    described=False) for period in (None, WHOLE, TAIL)]
        assert not any(t.described for t in numbers_only)
        write(store, 1, numbers_only)
        rows = {(r.period_us, r.from_end_us): r for r in store.stored_totals(["US"], None)}
        assert set(rows) == {(None, None), (PANE, None), TAIL}  # None: the whole pane
        for row in rows.values():
            assert (row.batch_id, row.new, row.old) == (
                1, item("Chair", 5, "50.50"), item("Chair", 2, "20.00"))
            assert committed_value(row, 0) == item("Chair", 2, "20.00")  # batch 1 replayed
        # a renamed item is written whole (described): the new name replaces the old
        write(store, 2, [TotalChange.of("US", None, item("Armchair", 6, "60.50"),
                                        item("Chair", 5, "50.50"))])
        (all_time,) = [r for r in store.stored_totals(["US"], None) if r.period_us is None]
        assert all_time.new == item("Armchair", 6, "60.50")
        assert [(i.product_name, i.quantity) for i in store.totals("US", "all")] == [
            ("Armchair", 6)]
        # a window adds the pane's later slice only if it ends at or after the slice's start
        ends_early = window_id(from_micros(PANE + 2 * SLIDE - 3_600_000_000))
        ends_late = window_id(from_micros(PANE + 3 * SLIDE - 3_600_000_000))
        assert [i.quantity for i in store.totals("US", ends_early)] == [5]
        assert [i.quantity for i in store.totals("US", ends_late)] == [10]


def test_boards_of_two_windows_are_written_in_scope_batches_and_read_back_whole(
        sandbox: Settings) -> None:
    from topproducts.countries import SCOPES
    from topproducts.leaderboards.ranking import Granularity, Metric, rank
    from topproducts.leaderboards.store import ALL, Window

    windows = [ALL, Window(from_micros(PANE), from_micros(PANE + 3_600_000_000))]

    def items(seed: int, n: int, by: Granularity) -> list[ItemTotal]:
        variant = by is Granularity.VARIANT
        return [ItemTotal(product_id=seed * 1000 + i, product_name=f"P{seed}-{i}",
                          material=None if by is Granularity.PRODUCT else "Oak",
                          variant_id=seed * 1000 + i if variant else None,
                          seller="Acme" if variant else None, quantity=seed + i,
                          revenue_usd=Decimal(f"{seed + i}.25")) for i in range(n)]

    # a scope with more entries than one batch holds (400 > ENTRIES_PER_BATCH) goes alone
    sizes = {scope: 400 if scope == "US" else 10 for scope in SCOPES}
    boards = [(metric, by, scope, window, rank(items(len(scope) + k, sizes[scope], by), metric,
                                               sizes[scope]))
              for k, window in enumerate(windows) for scope in SCOPES
              for metric in Metric for by in Granularity]
    with StreamStore.opened(sandbox) as store:
        store.write_boards(boards, datetime.now(UTC))
        for metric, by, scope, window, ranked in boards:
            board = store.top(metric, scope, window.id, by=by)
            assert (board.entries, board.window.id) == (ranked, window.id), (scope, window.id)
        # a rewrite replaces a board whole: a shorter list leaves nothing of the longer one
        metric, by, scope, window, ranked = boards[0]
        store.write_boards([(metric, by, scope, window, ranked[:2])], datetime.now(UTC))
        assert store.top(metric, scope, window.id, by=by).entries == ranked[:2]
