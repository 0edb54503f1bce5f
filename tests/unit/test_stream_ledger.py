"""The driver's ledger of counted order facts (the stream's dedupe), without Spark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from streaming.counting import Counter
from streaming.ledger import CHUNK, Ledger, admit_batch, restore
from streaming.sink import COUNTED_KINDS, LeaderboardSink, restore_counter, restore_ledger
from streaming.store import StoredChunk
from tests.support.keyed import Event, table
from tests.support.reference import InMemoryStore
from topproducts.countries import GLOBAL_SCOPE
from topproducts.leaderboards.ranking import Geometry, Granularity

GEOMETRY = Geometry.parse("1 hour", "5 minutes", "10 minutes")
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
CONFIRMED, CANCELLED = COUNTED_KINDS


def ids(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def test_the_first_of_each_id_counts_once_ever_per_event_type() -> None:
    ledger = Ledger()
    keep, writes = ledger.admit(CONFIRMED, ids(5, 7, 5, CHUNK, CHUNK - 1, 7))
    assert keep.tolist() == [True, True, False, True, True, False]
    assert sorted(w.chunk for w in writes) == [0, 1] and all(w.prev_bits is None for w in writes)
    keep, writes = ledger.admit(CONFIRMED, ids(7, 8, CHUNK))  # 7 and CHUNK again: dropped
    assert keep.tolist() == [False, True, False]
    (w,) = writes
    assert w.chunk == 0 and w.prev_bits is not None and w.prev_bits != w.bits
    keep, writes = ledger.admit(CANCELLED, ids(7))  # another fact of the same order
    assert keep.tolist() == [True] and ledger.counted == 6
    assert ledger.admit(CONFIRMED, ids(5, 7))[1] == []  # nothing new: nothing to write
    big = 2**53 - 1  # the largest id the API hands out: one more chunk, not a huge array
    assert ledger.admit(CONFIRMED, ids(big))[0].tolist() == [True]
    assert ledger.admit(CONFIRMED, ids(big))[0].tolist() == [False]


def test_restore_takes_the_replaced_bits_of_an_uncommitted_batch() -> None:
    running = Ledger()
    (w0,) = running.admit(CONFIRMED, ids(1, 2))[1]  # batch 0, committed
    (w1,) = running.admit(CONFIRMED, ids(2, 3))[1]  # batch 1, written, not committed
    rows = [StoredChunk(CONFIRMED, 0, 1, w1.bits, w1.prev_bits)]  # the row as batch 1 left it
    assert w1.prev_bits == w0.bits
    replay = Ledger()
    restore(replay, rows, last_committed=0)
    assert replay.admit(CONFIRMED, ids(2, 3))[0].tolist() == [False, True]  # 3 counts again
    committed = Ledger()
    restore(committed, rows, last_committed=1)
    assert committed.admit(CONFIRMED, ids(3))[0].tolist() == [False]
    nothing = Ledger()
    restore(nothing, [StoredChunk(CONFIRMED, 0, 0, w0.bits, None)], last_committed=None)
    assert nothing.chunks == {} and nothing.counted == 0


def test_admit_batch_keeps_dead_letters_and_other_rows() -> None:
    order = Event(1, "US", T0, ((1, 2, "3.00"),))
    dead = {"key_id": None, "key_kind": "dead", "topic": "shop.orders", "partition": 0,
            "offset": 0, "value": b"not json", "reason": "not a JSON object"}
    rows = table([order, order, dead, order.cancelled(), order.cancelled()])  # + a placement
    admitted, writes = admit_batch(Ledger(), rows, COUNTED_KINDS)
    assert {w.event_type for w in writes} == set(COUNTED_KINDS)
    assert admitted["key_kind"].to_pylist() == [CONFIRMED, "dead", CANCELLED, None]
    assert admit_batch(Ledger(), rows.slice(2, 1), COUNTED_KINDS)[0] == rows.slice(2, 1)


def test_a_republished_fact_counts_once_across_batches_and_restarts() -> None:
    store = InMemoryStore(GEOMETRY)
    first = Event(1, "US", T0, ((1, 2, "3.00"),))
    second = Event(2, "US", T0 + timedelta(minutes=1), ((1, 1, "1.50"),))
    s = LeaderboardSink(store, Counter(GEOMETRY, 3), "q")
    s.process(table([first, first]), 0)  # the relay published it twice in a row
    s.process(table([first, second]), 1)  # and once more later
    assert store.totals(GLOBAL_SCOPE, "all", Granularity.VARIANT)[0].quantity == 3
    # kill -9 after batch 1 was written but before Spark committed it: batch 1 replays
    again = LeaderboardSink(store, restore_counter(store, GEOMETRY, 3, "q", 0), "q",
                            ledger=restore_ledger(store, 0))
    again.process(table([first, second]), 1)
    again.process(table([first.cancelled(), second]), 2)  # a retraction, and a repeat
    (item,) = store.totals(GLOBAL_SCOPE, "all", Granularity.VARIANT)
    assert (item.quantity, str(item.revenue_usd)) == (1, "1.50")
