"""The driver's counting and the foreachBatch sink, without Spark: Arrow tables in the shape
of ``keyed_rows`` -> ``LeaderboardSink.process`` -> an in-memory store.

Every result is checked against a plain-Python model of the rule (all-time, sliding
windows, Spark's watermark) and a full re-rank.
"""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from streaming.counting import Counter, batch_input
from streaming.progress import ProgressListener, progress_row
from streaming.sink import BatchFacts, LeaderboardSink, restore_counter, restore_ledger
from tests.support.keyed import Event, material_of, product_of, seller_of, table
from tests.support.reference import InMemoryStore, assert_store_matches, windows_of
from topproducts.countries import GLOBAL_SCOPE
from topproducts.leaderboards import windowing
from topproducts.leaderboards.ranking import (
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
from topproducts.leaderboards.windowing import counts_in

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # a pane (and window) boundary
DURATION, SLIDE, DELAY = timedelta(hours=1), timedelta(minutes=5), timedelta(minutes=10)
GEOMETRY = Geometry.of(DURATION, SLIDE, DELAY)
QUERY = "q"

def variant_item(variant: int, quantity: int, revenue: Decimal) -> ItemTotal:
    return ItemTotal(product_id=product_of(variant), product_name=f"P{product_of(variant)}",
                     material=material_of(variant), variant_id=variant,
                     seller=seller_of(variant), quantity=quantity, revenue_usd=revenue)


def dead_row(offset: int, reason: str) -> dict:
    return {"key_id": None, "key_kind": "dead", "topic": "shop.orders", "partition": 0,
            "offset": offset, "kafka_timestamp_us": to_micros(T0), "key": "k",
            "value": b"not json", "reason": reason}


def sink(store: InMemoryStore | None = None, top_n: int = 3,
         counter: Counter | None = None) -> LeaderboardSink:
    return LeaderboardSink(store if store is not None else InMemoryStore(GEOMETRY),
                           counter or Counter(GEOMETRY, top_n), QUERY, clock=lambda: NOW)


def restarted(store: InMemoryStore, top_n: int, last_committed: int | None
              ) -> LeaderboardSink:
    """The sink of a restarted stream: counter and ledger restored from ``store``."""
    return LeaderboardSink(store, restore_counter(store, GEOMETRY, top_n, QUERY, last_committed),
                           QUERY, clock=lambda: NOW,
                           ledger=restore_ledger(store, last_committed))


# -- the reference: the rule in plain Python -----------------------------------------


def reference(batches: list[list[Event]]) -> tuple[dict, int]:
    """Variant totals per (scope, window_id), and the late count, by the rule stated plainly
    (:func:`topproducts.leaderboards.windowing.counts_in`) and the stream's lateness.

    A confirmation adds its lines to every window containing it; a cancellation retracts
    them from those the rule no longer counts them in (the windows ending after it). A
    fact reaches a window only if the window is not final when the fact's batch comes
    (final: its end <= the largest own time of earlier batches - delay); a fact that
    missed a window is late. Every fact counts all-time.
    """
    acc: dict = defaultdict(dict)
    max_own: datetime | None = None
    late = 0
    for batch in batches:
        watermark = None if max_own is None else max_own - DELAY
        for ev in batch:
            wids, missed = ["all"], False
            for start in windows_of(ev.at, DURATION, SLIDE):
                end = start + DURATION
                if ev.sign < 0 and counts_in(to_micros(ev.at), to_micros(ev.own or ev.at),
                                             to_micros(start), to_micros(end)):
                    continue  # cancelled after the window ended: the window keeps the line
                if watermark is not None and end <= watermark:
                    missed = True  # the window was final when the fact came
                    continue
                wids.append(window_id(start))
            late += missed
            for variant, q, r in ev.items:
                for scope in (ev.country, GLOBAL_SCOPE):
                    for wid in wids:
                        old = acc[(scope, wid)].get(variant)
                        acc[(scope, wid)][variant] = variant_item(
                            variant, (old.quantity if old else 0) + ev.sign * q,
                            (old.revenue_usd if old else Decimal("0.00")) + ev.sign * Decimal(r))
        if batch:
            top = max(ev.own or ev.at for ev in batch)
            max_own = top if max_own is None else max(max_own, top)
    return dict(acc), late


def partition_items(counter: Counter, by: Granularity, scope: str, start: int | None
                    ) -> list[ItemTotal]:
    cells = counter.all_time[(by, scope)] if start is None else counter.windows[(by, scope),
                                                                                start]
    return sorted((counter.item(by, scope, start, k) for k in cells), key=lambda i: i.key)


def assert_counter_matches(counter: Counter, expected: dict) -> None:
    """The counter's all-time totals, and every window it still holds, equal the reference
    at every granularity; every board it holds equals a full re-rank of its partition,
    except the deferred ones (pending: written at the refresh)."""
    for by, scope in counter.all_time:
        assert partition_items(counter, by, scope, None) == roll_up(
            expected[(scope, "all")].values(), by)
    for (by, scope), start in counter.windows:
        assert partition_items(counter, by, scope, start) == roll_up(
            expected[(scope, window_id(from_micros(start)))].values(), by)
    for (metric, (by, scope), start), board in counter.boards.items():
        if ((by, scope), start) in counter.pending:
            continue
        assert board == rank(partition_items(counter, by, scope, start), metric, counter.top_n)


def random_batches(seed: int, n_batches: int = 5, per_batch: int = 25,
                   first_order: int = 1) -> list[list[Event]]:
    """Orders in rough time order (2 minutes apart, some jitter), a few variants so boards
    churn; cancellations of earlier confirmations, some of them older than the watermark."""
    rng = random.Random(seed)
    batches: list[list[Event]] = []
    confirmed: list[Event] = []
    order_id = first_order
    for b in range(n_batches):
        batch = []
        for i in range(per_batch):
            at = T0 + timedelta(minutes=2 * (b * per_batch + i) + rng.randint(-7, 7),
                                seconds=rng.randint(0, 59))
            items = tuple((v, rng.randint(1, 4), f"{rng.randint(1, 9999) / 100:.2f}")
                          for v in rng.sample(range(1, 13), rng.randint(1, 3)))
            ev = Event(order_id, rng.choice(["IN", "US", "GB"]), at, items)
            order_id += 1
            batch.append(ev)
            confirmed.append(ev)
        first, latest = min(ev.at for ev in batch), max(ev.at for ev in batch)
        for ev in rng.sample(confirmed[:-3], 4):  # cancellations, any time after confirming
            confirmed.remove(ev)  # mostly during this batch; some dated at the confirmation
            at = (max(ev.at, first + (latest - first) * rng.random()) if rng.random() < 0.7
                  else ev.at)
            batch.append(ev.cancelled(at))
        rng.shuffle(batch)
        batches.append(batch)
    return batches


# -- Counter.apply, through the sink -------------------------------------------------

PM = Granularity.PRODUCT_MATERIAL


def test_totals_windows_and_boards_equal_the_reference_batch_by_batch() -> None:
    batches = random_batches(seed=3)
    s = sink(top_n=4)
    for batch_id, batch in enumerate(batches):
        s.process(table(batch), batch_id)
        expected, late = reference(batches[:batch_id + 1])
        assert_counter_matches(s.counter, expected)
        assert s.counter.late_total == late == s.facts[batch_id].late_total
    expected, late = reference(batches)
    assert late > 0  # the data exercises the watermark
    s.flush()  # what the idle query does: the deferred boards
    assert not s.counter.pending
    assert_store_matches(s.store, expected, 4)
    assert s.store.state[QUERY].batch_id == len(batches) - 1


def test_the_granularities_sum_variants_and_name_rows_apart() -> None:
    s = sink(top_n=10)
    at = T0 + timedelta(minutes=1)
    # variants 1 and 3: product 1 in Oak from two sellers; 2: product 1 in Steel
    s.process(table([Event(1, "US", at, ((1, 2, "20.00"), (3, 5, "50.00"), (2, 4, "8.00")))]),
              0)

    def board(by: Granularity) -> list:
        return [(r.item.name, r.value) for r in s.store.boards[(Metric.QUANTITY, by, "US", "all")]]

    assert board(Granularity.VARIANT) == [("P1 · Oak · sold by Seller 0", 5),
                                          ("P1 · Steel · sold by Seller 2", 4),
                                          ("P1 · Oak · sold by Seller 1", 2)]
    assert board(PM) == [("P1 · Oak", 7), ("P1 · Steel", 4)]
    assert board(Granularity.PRODUCT) == [("P1", 11)]
    revenue = s.store.boards[(Metric.REVENUE, PM, GLOBAL_SCOPE, "all")]
    assert [(r.item.key, r.value) for r in revenue] == [((1, "Oak", 0), Decimal("70.00")),
                                                         ((1, "Steel", 0), Decimal("8.00"))]
    # the ledger is per variant: one total per variant and period, whatever the granularities
    assert {v for (_, _, _, v) in s.store.rows} == {1, 2, 3}


def test_boards_follow_the_totals_and_fallen_items_disappear() -> None:
    s = sink(top_n=3)
    at = T0 + timedelta(minutes=1)
    s.process(table([Event(v, "US", at, ((v, v, f"{10 - v}.00"),)) for v in range(1, 6)]), 0)

    def board(metric: Metric, wid: str = "all") -> list:
        return [(x.rank, x.item.variant_id, x.value)
                for x in s.store.boards[(metric, Granularity.VARIANT, GLOBAL_SCOPE, wid)]]

    assert board(Metric.QUANTITY) == [(1, 5, 5), (2, 4, 4), (3, 3, 3)]
    assert board(Metric.REVENUE) == [(1, 1, Decimal("9.00")), (2, 2, Decimal("8.00")),
                                     (3, 3, Decimal("7.00"))]
    # variant 1 jumps to the top by quantity; variant 3 falls out of the top 3
    s.process(table([Event(10, "US", at, ((1, 45, "0.00"),))]), 1)
    s.flush()
    assert board(Metric.QUANTITY) == [(1, 1, 46), (2, 5, 5), (3, 4, 4)]
    assert board(Metric.QUANTITY, window_id(T0)) == board(Metric.QUANTITY)
    assert board(Metric.REVENUE) == [(1, 1, Decimal("9.00")), (2, 2, Decimal("8.00")),
                                     (3, 3, Decimal("7.00"))]


def test_cancelling_a_top_item_re_ranks_exactly() -> None:
    s = sink(top_n=2)
    at = T0 + timedelta(minutes=3)
    orders = [Event(v, "IN", at, ((v, v * 2, f"{v}.00"),)) for v in range(1, 6)]
    s.process(table(orders), 0)
    variant = Granularity.VARIANT
    assert [r.item.variant_id for r in s.store.boards[(Metric.QUANTITY, variant, "IN", "all")]
            ] == [5, 4]
    s.process(table([orders[4].cancelled()]), 1)  # all of variant 5 cancelled
    s.flush()
    for wid in ("all", window_id(T0)):
        for metric in Metric:
            board = s.store.boards[(metric, variant, "IN", wid)]
            assert [(r.rank, r.item.variant_id) for r in board] == [(1, 4), (2, 3)]
            assert board == rank(s.store.totals("IN", wid, variant), metric, 2)
            for by in Granularity:
                assert s.store.boards[(metric, by, "IN", wid)] == rank(
                    s.store.totals("IN", wid, by), metric, 2)
    assert {i.variant_id: i.quantity for i in s.store.totals("IN", "all", variant)}[5] == 0


def test_only_the_hot_windows_are_ranked_every_batch() -> None:
    counter = Counter(GEOMETRY, 2, refresh_us=10_000_000)
    at = T0 + timedelta(minutes=1)
    now = to_micros(at)

    def apply(events: list[Event], now_us: int):
        return counter.apply(batch_input(table(events), counter.watermark_us, GEOMETRY), now_us)

    first = apply([Event(1, "US", at, ((1, 10, "1.00"), (2, 8, "2.00"),
                                       (3, 1, "50.00"), (4, 1, "40.00")))], now)
    pane = GEOMETRY.pane_of(now)
    windows = windowing.window_starts(GEOMETRY, pane, pane + GEOMETRY.slide_us)
    assert len(windows) == 12
    boards = 2 * 3 * 2  # metrics x granularities x scopes
    # the first batch writes everything (nothing was written before it): all-time and the
    # hot windows in the batch, the other windows deferred (written beside the next batch)
    assert len(first.boards) == boards * (1 + 2) and not counter.pending
    assert len(first.deferred) == boards * (12 - 2)
    # the next one, within the refresh: all-time and the hot windows only
    hot = counter.hot_windows(now) & set(windows)
    assert hot == {windows[0], windows[1]}  # the trailing window (07:05) and the next
    second = apply([Event(2, "US", at, ((5, 20, "90.00"),))], now + 1_000_000)
    assert {start for *_, w, _ in second.boards if (start := w.start) is not None} == {
        from_micros(s) for s in hot}
    assert len(second.boards) == boards * (1 + len(hot)) and not second.deferred
    assert len(counter.pending) == 3 * 2 * (12 - len(hot))  # granularities x scopes x others
    # after the refresh period the rest is written, each board once
    third = apply([Event(3, "US", at, ((6, 1, "0.50"),))], now + 11_000_000)
    assert not counter.pending
    written = third.boards + third.deferred
    assert len({(m, by, sc, w.id) for m, by, sc, w, _ in written}) == len(written)
    assert {w.start for *_, w, _ in third.deferred} == {
        from_micros(s) for s in windows if s not in hot}
    assert_counter_matches(counter, reference([
        [Event(1, "US", at, ((1, 10, "1.00"), (2, 8, "2.00"), (3, 1, "50.00"), (4, 1, "40.00")))],
        [Event(2, "US", at, ((5, 20, "90.00"),))], [Event(3, "US", at, ((6, 1, "0.50"),))]])[0])


def test_unchanged_boards_are_not_re_emitted() -> None:
    counter = Counter(GEOMETRY, 2)
    at = T0 + timedelta(minutes=1)
    now = to_micros(at)

    def apply(events: list[Event]):
        return counter.apply(batch_input(table(events), counter.watermark_us, GEOMETRY), now)

    apply([Event(1, "US", at, ((1, 10, "1.00"), (2, 8, "2.00"),
                               (3, 1, "50.00"), (4, 1, "40.00")))])
    # variant 2 overtakes variant 1 by quantity; the revenue boards stay as they are
    second = apply([Event(2, "US", at, ((2, 5, "0.00"),))])
    assert {m for m, by, *_ in second.boards if by is Granularity.VARIANT} == {Metric.QUANTITY}
    assert second.totals  # the totals did change
    # a new variant below the variant and product x material tops: totals written, no
    # board but the product ones (its product is new and enters the top 2 of one product)
    third = apply([Event(3, "US", at, ((17, 1, "0.50"),))])
    assert [b for b in third.boards if b[1] is Granularity.VARIANT] == []
    assert len(third.totals) == 2 * 2  # scopes x (all-time, pane)
    assert {b[1] for b in third.boards} == {Granularity.PRODUCT}


def test_known_rows_get_their_numbers_only_and_a_renamed_item_is_written_whole() -> None:
    s = sink()
    at = T0 + timedelta(minutes=1)
    s.process(table([Event(1, "US", at, ((1, 1, "1.00"), (2, 1, "2.00")))]), 0)
    # batch 1: variant 2 again (its rows exist), variant 3 new
    changes = s.counter.apply(batch_input(table([Event(2, "US", at, ((2, 1, "2.00"),
                                                                     (3, 1, "3.00")))]),
                                          s.counter.watermark_us, GEOMETRY), to_micros(NOW))
    assert {(t.scope, t.period_us is None, t.variant_id): t.described for t in changes.totals
            } == {(scope, all_time, v): v == 3 for scope in ("US", GLOBAL_SCOPE)
                  for all_time in (True, False) for v in (2, 3)}
    assert len(changes.totals) == 2 * 2 * 2  # variants x scopes x (all-time, pane)

    # a new name for variant 1 in one country's event: every row of it written whole,
    # also the ones the batch reached before the new name; stored rows carry it
    s = sink()
    s.process(table([Event(1, "US", at, ((1, 1, "1.00"),)),
                     Event(2, "DE", at, ((1, 1, "1.00"),))]), 0)
    renamed = Event(4, "DE", at, ((1, 2, "2.00"),)).row()
    renamed["items"][0]["product_name"] = "P1 (new)"
    s.process(table([Event(3, "US", at, ((1, 1, "1.00"),)), renamed]), 1)
    # each row carries the name its own events carried (US's still the old one)
    assert {k: (r.new.product_name, r.new.quantity) for k, r in s.store.rows.items()} == {
        (scope, period, None, 1): (name, quantity) for period in (None, to_micros(T0))
        for scope, name, quantity in (("US", "P1", 2), ("DE", "P1 (new)", 3),
                                      (GLOBAL_SCOPE, "P1 (new)", 5))}
    assert s.counter.unsettled == {(1, "Oak", 1)}  # from now on, written whole


def test_a_restore_that_finds_two_names_for_an_item_writes_it_whole() -> None:
    store = InMemoryStore(GEOMETRY)
    s = sink(store)
    at = T0 + timedelta(minutes=1)
    s.process(table([Event(1, "US", at, ((1, 1, "1.00"),))]), 0)
    row = store.rows[("US", None, None, 1)]  # as if a batch that renamed it stopped half-written
    store.rows[("US", None, None, 1)] = replace(row, new=replace(row.new, product_name="P1 (new)"))
    restored = restarted(store, 3, last_committed=0)
    assert restored.counter.unsettled == {(1, "Oak", 1)}
    changes = restored.counter.apply(batch_input(table([Event(2, "FR", at, ((1, 1, "1.00"),))]),
                                                 restored.counter.watermark_us, GEOMETRY),
                                     to_micros(NOW))
    assert changes.totals and all(t.described for t in changes.totals)


def test_a_late_fact_counts_all_time_and_in_its_open_windows_and_is_recorded() -> None:
    s = sink(top_n=5)
    # one batch spanning 30 minutes: none of it is late (the watermark comes from earlier
    # batches only), though 08:00 is older than its max (08:30) minus the delay
    first = [Event(1, "US", T0, ((1, 1, "1.00"),)),
             Event(2, "US", T0 + timedelta(minutes=30), ((2, 1, "2.00"),))]
    counts = s.process(table(first), 0)
    assert counts["late"] == 0 and s.counter.watermark == T0 + timedelta(minutes=20)
    # 08:19 is in pane 08:15, whose windows end 08:20 .. 09:15; the one ending 08:20 is
    # final at the watermark (08:20), the others are open
    late = Event(3, "US", T0 + timedelta(minutes=19), ((3, 4, "4.00"),))
    on_time = Event(4, "US", T0 + timedelta(minutes=20), ((4, 1, "3.00"),))
    counts = s.process(table([late, on_time]), 1)
    assert counts["late"] == 1 and counts["events"] == 2
    assert s.facts[1] == BatchFacts(late=1, late_total=1, watermark=T0 + timedelta(minutes=20),
                                    state_rows=s.counter.state_rows() + 4,  # + the ledger
                                    pending_boards=len(s.counter.pending))
    assert s.counter.late_total == 1 and s.ledger.counted == 4
    (fact,) = s.store.late.values()
    assert (fact.order_id, fact.event_type, fact.country) == (3, "order_confirmed", "US")
    assert (fact.missed_from, fact.missed_to, fact.counted_from) == (
        T0 + timedelta(minutes=20), T0 + timedelta(minutes=20), T0 + timedelta(minutes=25))
    assert fact.watermark == T0 + timedelta(minutes=20) and fact.windows_missed(GEOMETRY) == 1
    variant = Granularity.VARIANT
    assert {i.variant_id for i in s.store.totals("US", "all", variant)} == {1, 2, 3, 4}
    missed = window_id(T0 + timedelta(minutes=20) - DURATION)
    for start in windows_of(late.at, DURATION, SLIDE):
        found = 3 in {i.variant_id for i in s.store.totals("US", window_id(start), variant)}
        assert found == (window_id(start) != missed), window_id(start)
    assert 4 in {i.variant_id for i in s.store.totals("US", window_id(T0 + timedelta(minutes=20)),
                                                      variant)}
    assert s.store.boards[(Metric.QUANTITY, variant, "US", "all")][0].item.variant_id == 3
    s.flush()
    assert_store_matches(s.store, reference([first, [late, on_time]])[0], 5)


def test_a_cancellation_retracts_from_the_windows_that_end_after_it() -> None:
    s = sink(top_n=5)
    order = Event(1, "US", T0 + timedelta(minutes=1), ((1, 3, "3.00"),))
    s.process(table([order]), 0)
    # cancelled 40 minutes later (far beyond the 10-minute lateness): the windows that
    # ended by then (08:05 .. 08:40) keep the line, the open ones (08:45 .. 09:00) drop it
    cancel = order.cancelled(T0 + timedelta(minutes=41))
    counts = s.process(table([cancel]), 1)
    assert counts["late"] == 0
    variant = Granularity.VARIANT
    for start in windows_of(order.at, DURATION, SLIDE):
        end = start + DURATION
        kept = {i.variant_id: i.quantity for i in s.store.totals("US", window_id(start), variant)}
        assert kept.get(1, 0) == (3 if end <= cancel.own else 0), window_id(start)
    assert [i.quantity for i in s.store.totals("US", "all", variant)] == [0]
    s.flush()
    assert_store_matches(s.store, reference([[order], [cancel]])[0], 5)


def test_panes_and_windows_are_forgotten_once_the_watermark_passes() -> None:
    s = sink(top_n=3)
    early = [Event(1, "US", T0 + timedelta(minutes=1), ((1, 2, "2.00"),))]
    s.process(table(early), 0)
    pane0 = to_micros(T0)
    slice0 = (pane0, pane0 + GEOMETRY.slide_us)
    assert ((PM, "US"), slice0) in s.counter.panes
    assert len([k for k in s.counter.windows if k[0] == (PM, "US")]) == 12
    rows_before = s.counter.state_rows()
    later = [Event(2, "US", T0 + timedelta(hours=2), ((2, 1, "1.00"),))]
    s.process(table(later), 1)
    c = s.counter
    wm = to_micros(T0 + timedelta(hours=2) - DELAY)
    first_open_pane = GEOMETRY.pane_of(wm)
    assert c.pane_horizon_us() == first_open_pane - GEOMETRY.duration_us
    assert all(p >= c.pane_horizon_us() for _, (p, _end) in c.panes)
    assert ((PM, "US"), slice0) not in c.panes
    assert all(start + GEOMETRY.duration_us > first_open_pane for _, start in c.windows)
    assert all(start is None or start + GEOMETRY.duration_us > first_open_pane
               for _, _, start in c.boards)
    assert not any(start is not None and start <= pane0 for _, _, start in c.boards)
    # the open windows of the new event are held; the old ones stay readable in the store
    assert ((PM, "US"), to_micros(T0 + timedelta(hours=2))) in c.windows
    assert c.state_rows() < rows_before + 4  # pane 0 (US, GLOBAL) gone, 2 panes + 2 all-time new
    expected, _ = reference([early, later])
    assert_counter_matches(c, expected)
    s.flush()
    assert_store_matches(s.store, expected, 3)
    # an on-time event after the eviction still sums its windows right
    more = [Event(3, "US", T0 + timedelta(hours=1, minutes=55), ((2, 3, "3.00"), (1, 1, "1.00")))]
    s.process(table(more), 2)
    expected, _ = reference([early, later, more])
    assert_counter_matches(s.counter, expected)
    s.flush()
    assert_store_matches(s.store, expected, 3)


def test_a_closing_window_gets_its_final_boards_before_it_is_forgotten() -> None:
    s = sink(top_n=3)
    s.counter.refresh_us = 3600 * 1_000_000  # no refresh: only closing and idle write
    s.process(table([Event(1, "US", T0 + timedelta(minutes=1), ((1, 2, "2.00"),))]), 0)
    s.process(table([Event(2, "US", T0 + timedelta(minutes=2), ((3, 5, "9.00"),))]), 1)
    deferred = window_id(T0 - timedelta(minutes=30))  # holds both events; neither hot
    assert [r.item.variant_id for r in s.store.boards[(
        Metric.QUANTITY, Granularity.VARIANT, "US", deferred)]] == [1]
    s.process(table([Event(3, "US", T0 + timedelta(hours=3), ((2, 1, "1.00"),))]), 2)
    assert [r.item.variant_id for r in s.store.boards[(
        Metric.QUANTITY, Granularity.VARIANT, "US", deferred)]] == [3, 1]


def test_a_window_closing_at_a_refresh_gets_its_final_boards_in_the_batch() -> None:
    """Not among the deferred boards (written after the commit): a restart re-publishes
    open windows only, so a lost deferred final board would stay stale."""
    counter = Counter(GEOMETRY, 3, refresh_us=60 * 1_000_000)

    def apply(event: Event, now: datetime):
        return counter.apply(batch_input(table([event]), counter.watermark_us, GEOMETRY),
                             to_micros(now))

    apply(Event(1, "US", T0 + timedelta(minutes=1), ((1, 2, "2.00"),)), NOW)
    apply(Event(2, "US", T0 + timedelta(minutes=2), ((3, 5, "9.00"),)), NOW)  # no refresh
    closing = to_micros(T0 - timedelta(minutes=30))  # holds both events; not hot
    assert ((Granularity.VARIANT, "US"), closing) in counter.pending
    # the refresh is due, and the watermark closes the window, in the same batch
    last = apply(Event(3, "US", T0 + timedelta(hours=3), ((2, 1, "1.00"),)),
                 NOW + timedelta(minutes=2))
    assert last.deferred  # the refresh ran
    final = [ranked for metric, by, scope, w, ranked in last.boards
             if (metric, by, scope, w.start) == (Metric.QUANTITY, Granularity.VARIANT, "US",
                                                 from_micros(closing))]
    assert [[r.item.variant_id for r in ranked] for ranked in final] == [[3, 1]]
    assert not [w for *_, w, _ in last.deferred if w.start == from_micros(closing)]


def test_dead_letters_are_written_with_their_reason() -> None:
    s = sink()
    counts = s.process(table([dead_row(7, "not a JSON object"),
                              Event(1, "US", T0, ((1, 1, "1.00"),)),
                              dead_row(9, "empty message value")]), 0)
    assert counts["dead"] == 2 and counts["events"] == 1
    letters = sorted(s.store.dead.values(), key=lambda d: d.offset)
    got = [(d.offset, d.reason, d.kafka_timestamp, d.seen_at, d.key, d.value) for d in letters]
    assert got == [
        (7, "not a JSON object", T0, NOW, "k", b"not json"),
        (9, "empty message value", T0, NOW, "k", b"not json")]


# -- restart: restore from the store, replay an uncommitted batch ---------------------


def counter_state(c: Counter) -> tuple:
    horizon = c.pane_horizon_us()
    panes = {k: v for k, v in c.panes.items() if v and (horizon is None or k[1][0] >= horizon)}
    return ({k: v for k, v in c.all_time.items() if v}, panes, c.max_event_us, c.late_total)


def ledger_state(ledger) -> dict:
    return {k: v.nonzero()[0].tolist() for k, v in ledger.chunks.items() if v.any()}


def test_restart_replays_an_uncommitted_batch_exactly() -> None:
    batches = random_batches(seed=17, n_batches=5)
    top_n = 4
    once = sink(top_n=top_n)
    for batch_id, batch in enumerate(batches[:4]):
        once.process(table(batch), batch_id)
    assert once.counter.late_total > 0

    crashed = sink(top_n=top_n)
    for batch_id, batch in enumerate(batches[:4]):  # batch 3 written, not committed
        crashed.process(table(batch), batch_id)
    assert any(row.batch_id == 3 for row in crashed.store.rows.values())
    replay = restarted(crashed.store, top_n, last_committed=2)
    restored = replay.counter
    after_2 = sink(top_n=top_n)
    for batch_id, batch in enumerate(batches[:3]):
        after_2.process(table(batch), batch_id)
    assert counter_state(restored) == counter_state(after_2.counter)
    assert ledger_state(replay.ledger) == ledger_state(after_2.ledger)
    assert restored.pending  # every open window's boards are written again
    replay.process(table(batches[3]), 3)  # Spark replays batch 3 with the same input

    assert crashed.store.rows == once.store.rows
    assert crashed.store.state == once.store.state
    assert counter_state(restored) == counter_state(once.counter)
    assert ledger_state(replay.ledger) == ledger_state(once.ledger)
    assert replace(replay.facts[3], pending_boards=0) == replace(once.facts[3], pending_boards=0)
    replay.flush()
    once.flush()
    assert crashed.store.boards == once.store.boards
    expected, _ = reference(batches[:4])
    assert_store_matches(crashed.store, expected, top_n)
    # and both go on alike
    replay.process(table(batches[4]), 4)
    once.process(table(batches[4]), 4)
    replay.flush()
    once.flush()
    assert crashed.store.rows == once.store.rows and crashed.store.boards == once.store.boards
    assert_store_matches(once.store, reference(batches)[0], top_n)


def test_restart_after_a_committed_batch_needs_no_replay() -> None:
    batches = random_batches(seed=29, n_batches=5)
    top_n = 3
    once = sink(top_n=top_n)
    for batch_id, batch in enumerate(batches[:4]):
        once.process(table(batch), batch_id)
    # the next batch from the restored counter writes what the running one would
    copy = InMemoryStore(GEOMETRY)
    copy.rows, copy.boards = dict(once.store.rows), dict(once.store.boards)
    copy.chunks, copy.state = dict(once.store.chunks), dict(once.store.state)
    again = restarted(copy, top_n, last_committed=3)
    restored = again.counter
    assert counter_state(restored) == counter_state(once.counter)
    assert ledger_state(again.ledger) == ledger_state(once.ledger)
    assert restored.watermark == once.counter.watermark
    again.process(table(batches[4]), 4)
    once.process(table(batches[4]), 4)
    again.flush()
    once.flush()
    assert copy.rows == once.store.rows and copy.boards == once.store.boards
    assert_store_matches(copy, reference(batches)[0], top_n)


def test_a_crash_before_deferred_boards_were_written_is_repaired_at_restart() -> None:
    batches = random_batches(seed=5, n_batches=3)
    s = sink(top_n=3)
    s.counter.refresh_us = 3600 * 1_000_000
    for batch_id, batch in enumerate(batches):
        s.process(table(batch), batch_id)
    assert s.counter.pending  # then kill -9: the deferred boards were never written
    restarted(s.store, 3, last_committed=2).flush()  # the idle query after the restart
    assert_store_matches(s.store, reference(batches)[0], 3)


class SlowBoardsStore(InMemoryStore):
    """Deferred boards wait for ``release``; every write is logged in order."""

    def __init__(self) -> None:
        super().__init__(GEOMETRY)
        self.release, self.log = threading.Event(), []
        self.fail: Exception | None = None

    def write_batch(self, w) -> None:
        self.log.append(("batch", w.batch_id))
        super().write_batch(w)

    def write_boards(self, boards, now) -> None:
        if threading.current_thread().name.startswith("deferred-boards"):
            assert self.release.wait(10)
            if self.fail is not None:
                raise self.fail
            self.log.append(("deferred", len(boards)))
        super().write_boards(boards, now)


def test_deferred_boards_are_written_off_the_batch_and_before_the_next_write() -> None:
    batches = random_batches(seed=7, n_batches=2)
    store = SlowBoardsStore()
    s = sink(store, top_n=3)
    s.process(table(batches[0]), 0)  # returns while its deferred boards are still waiting
    deferred = s._deferred
    assert deferred is not None and not deferred.done() and store.log == [("batch", 0)]
    # a reader must not be told "all boards written" while these are in flight
    assert s.facts[0].pending_boards >= len(s.counter.pending) + 1
    threading.Timer(0.2, store.release.set).start()
    s.process(table(batches[1]), 1)  # waits for them first: no board older than the batch's
    assert [kind for kind, _ in store.log[:3]] == ["batch", "deferred", "batch"]
    s.close()
    s.flush()
    assert_store_matches(store, reference(batches)[0], 3)


def test_a_failed_deferred_write_fails_the_next_batch() -> None:
    batches = random_batches(seed=8, n_batches=2)
    store = SlowBoardsStore()
    store.fail = RuntimeError("cassandra timed out")
    s = sink(store, top_n=3)
    s.process(table(batches[0]), 0)
    store.release.set()
    with pytest.raises(RuntimeError, match="timed out"):
        s.process(table(batches[1]), 1)
    assert store.log == [("batch", 0)]  # batch 1 wrote nothing: Spark replays it


def test_restore_from_an_empty_store_is_an_empty_counter() -> None:
    c = restore_counter(InMemoryStore(GEOMETRY), GEOMETRY, 3, QUERY, last_committed=None)
    assert (c.state_rows(), c.max_event_us, c.late_total, c.boards) == (0, None, 0, {})


# -- progress rows -----------------------------------------------------------------

RAW_PROGRESS = {
    "id": "q-id", "runId": "run-1", "name": "leaderboards",
    "timestamp": "2026-11-25T08:00:02.000Z", "batchId": 7, "batchDuration": 812,
    "numInputRows": 120, "inputRowsPerSecond": 60.0, "processedRowsPerSecond": 147.8,
    "eventTime": {"watermark": "2026-11-25T07:50:00.000Z"},
    "stateOperators": [{"numRowsTotal": 300, "numRowsDroppedByWatermark": 0},
                       {"numRowsTotal": 40, "numRowsDroppedByWatermark": 3}],
    "sources": [{"endOffset": {"shop.orders": {"0": 10, "2": 7, "1": 5}}}],
}


def test_progress_row_from_spark_progress_json() -> None:
    raw = RAW_PROGRESS
    p = progress_row(raw, late_total_before=4, now=NOW)
    assert (p.query, p.batch_id, p.input_rows, p.late_rows_dropped) == ("leaderboards", 7, 120, 3)
    assert p.late_rows_dropped_total == 7 and p.state_rows == 340
    assert p.offsets() == {"shop.orders": {0: 10, 1: 5, 2: 7}}
    assert p.watermark == datetime(2026, 11, 25, 7, 50, tzinfo=UTC)
    assert p.batch_at == datetime(2026, 11, 25, 8, 0, 2, tzinfo=UTC) and p.updated_at == NOW
    no_wm = progress_row({**raw, "eventTime": {"watermark": "1970-01-01T00:00:00.000Z"},
                          "sources": [{"endOffset": json.dumps({"t": {"0": 1}})}]}, 0, NOW)
    assert no_wm.watermark is None and no_wm.offsets() == {"t": {0: 1}}


def _progress_event(raw: dict) -> SimpleNamespace:
    return SimpleNamespace(progress=SimpleNamespace(json=json.dumps(raw)))


def test_the_listener_says_when_a_batchs_progress_is_handled() -> None:
    """A rebuild waits for its last batch's progress event (Spark can post it after the
    query stopped) before it writes "no board pending"; a failed write counts as handled."""
    written: list = []
    listener = ProgressListener(SimpleNamespace(write_progress=written.append), "leaderboards",
                                clock=lambda: NOW)
    assert not listener.wait_recorded(7, 0.01)
    threading.Timer(0.05, listener.onQueryProgress, [_progress_event(RAW_PROGRESS)]).start()
    assert listener.wait_recorded(7, 5.0)
    assert [p.batch_id for p in written] == [7]
    listener.onQueryProgress(_progress_event({**RAW_PROGRESS, "name": "other", "batchId": 9}))
    assert not listener.wait_recorded(8, 0.01)  # another query's batch is not ours

    def fail(row: object) -> None:
        raise RuntimeError("Cassandra is away")

    failing = ProgressListener(SimpleNamespace(write_progress=fail), "leaderboards")
    failing.onQueryProgress(_progress_event(RAW_PROGRESS))
    assert failing.wait_recorded(7, 0.01)


def test_progress_row_takes_late_watermark_and_state_from_the_sinks_facts() -> None:
    facts = BatchFacts(late=2, late_total=9, watermark=datetime(2026, 11, 25, 7, 42, tzinfo=UTC),
                       state_rows=1000, pending_boards=6)
    p = progress_row(RAW_PROGRESS, late_total_before=4, now=NOW, facts=facts)
    assert (p.late_rows_dropped, p.late_rows_dropped_total) == (2, 9)  # not Spark's 3 and 7
    assert p.watermark == datetime(2026, 11, 25, 7, 42, tzinfo=UTC)
    assert p.state_rows == 340 + 1000  # Spark's dedupe state plus the driver's totals
    assert p.pending_boards == 6
    assert (p.query, p.batch_id, p.input_rows) == ("leaderboards", 7, 120)
    none_yet = progress_row(RAW_PROGRESS, 4, NOW, BatchFacts(0, 0, None, 0, 0))
    assert none_yet.watermark is None and none_yet.late_rows_dropped_total == 0


def test_a_dropped_keyspace_is_named_in_one_clear_error() -> None:
    from streaming.sink import keyspace_lost

    lost = keyspace_lost(Exception('Error from server: code=2200 [Invalid query] '
                                   'message="Keyspace \'tp_x\' does not exist"'), "tp_x")
    assert lost is not None and "tp_x was dropped" in str(lost)
    assert "topproducts rebuild --yes" in str(lost)
    assert keyspace_lost(Exception("unconfigured table item_totals"), "tp_x") is not None
    assert keyspace_lost(Exception("Operation timed out"), "tp_x") is None


def test_the_idle_flush_writes_the_deferred_boards_and_notices_a_lost_keyspace() -> None:
    s = sink(top_n=3)
    s.counter.refresh_us = 3600 * 1_000_000
    s.process(table([Event(1, "US", T0 + timedelta(minutes=1), ((1, 2, "2.00"),))]), 0)
    s.process(table([Event(2, "US", T0 + timedelta(minutes=2), ((3, 5, "9.00"),))]), 1)
    assert s.counter.pending and s.flush() > 0 and not s.counter.pending

    class Gone(InMemoryStore):
        ks = "tp_x"

        def stream_state(self, query):
            raise Exception("Keyspace 'tp_x' does not exist")

    idle = sink(Gone(GEOMETRY))
    with pytest.raises(Exception, match="does not exist"):
        idle.flush()
    assert idle.fatal is not None and "tp_x was dropped" in str(idle.fatal)
