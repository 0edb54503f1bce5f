"""``foreachBatch`` writers: absolute totals, re-ranked boards, dead letters.

Spark keeps the exact totals in its (checkpointed) state and emits, in update
mode, the groups a batch changed with their new absolute values. We upsert
those and rebuild the rank partitions they touch. Nothing is read and
incremented, so replaying a batch after a crash writes the same rows.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from topproducts.leaderboards.ranking import ItemTotal, Metric, Ranked, merge_top, rank
from topproducts.leaderboards.store import DeadLetter, TotalRow, Window

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Store(Protocol):  # the part of LeaderboardStore the sink uses (a fake in unit tests)
    def upsert_totals(self, rows: Sequence[TotalRow], now: datetime) -> None: ...
    def top_items_many(self, keys: Sequence[tuple[Metric, str, str]]
                       ) -> dict[tuple[Metric, str, str], list[ItemTotal]]: ...
    def totals_many(self, keys: Sequence[tuple[str, str]]
                    ) -> dict[tuple[str, str], list[ItemTotal]]: ...
    def replace_ranks(self, boards: Iterable[tuple[Metric, str, Window, list[Ranked]]],
                      now: datetime) -> None: ...
    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...


def from_micros(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def total_row(r: Any) -> TotalRow:
    """A Spark row of :data:`streaming.transforms.TOTAL_COLUMNS` as a :class:`TotalRow`."""
    return TotalRow(
        scope=r["scope"],
        window=Window(from_micros(r["window_start_us"]), from_micros(r["window_end_us"])),
        item=ItemTotal(variant_id=r["variant_id"], product_id=r["product_id"],
                       product_name=r["product_name"], material=r["material"],
                       quantity=int(r["quantity"]), revenue_usd=r["revenue_usd"]),
    )


def apply_totals(store: Store, rows: Sequence[TotalRow], top_n: int, now: datetime) -> dict:
    """Write absolute totals, then rebuild every touched board. Returns counts for the log."""
    store.upsert_totals(rows, now)
    changed: dict[tuple[str, Window], list[ItemTotal]] = defaultdict(list)
    for r in rows:
        changed[(r.scope, r.window)].append(r.item)
    keys = [(m, scope, w.id) for scope, w in changed for m in Metric]
    old = store.top_items_many(keys)
    boards: dict[tuple[Metric, str, Window], list[Ranked] | None] = {}
    for (scope, w), items in changed.items():
        for m in Metric:
            boards[(m, scope, w)] = merge_top(old[(m, scope, w.id)], items, m, top_n)
    # A top item lost value (a cancellation): rank the whole partition from its totals.
    full_keys = sorted({(scope, w.id) for (_, scope, w), b in boards.items() if b is None})
    full = store.totals_many(full_keys) if full_keys else {}
    result = []
    for (m, scope, w), board in boards.items():
        if board is None:
            board = rank(full[(scope, w.id)], m, top_n)
        result.append((m, scope, w, board))
    store.replace_ranks(result, now)
    return {"totals": len(rows), "boards": len(result), "full_reranks": len(full_keys)}


class TotalsSink:
    """``foreachBatch`` function of a totals query."""

    def __init__(self, store: Store, top_n: int, name: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.top_n, self.name, self.clock = store, top_n, name, clock

    def __call__(self, df, batch_id: int) -> None:
        started = time.monotonic()
        rows = [total_row(r) for r in df.collect()]  # runs the micro-batch's Spark job
        if not rows:
            return
        computed = time.monotonic()
        counts = apply_totals(self.store, rows, self.top_n, self.clock())
        log.info("%s batch %d: %s; spark %.2fs, cassandra %.2fs", self.name, batch_id, counts,
                 computed - started, time.monotonic() - computed)


class DeadLetterSink:
    """``foreachBatch`` function of the dead-letter query."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                 ) -> None:
        self.store, self.clock = store, clock

    def __call__(self, df, batch_id: int) -> None:
        now = self.clock()
        letters = [
            DeadLetter(topic=r["topic"], partition=r["partition"], offset=r["offset"],
                       kafka_timestamp=from_micros(r["kafka_timestamp_us"]), key=r["key"],
                       value=None if r["value"] is None else bytes(r["value"]),
                       reason=r["reason"], seen_at=now)
            for r in df.collect()
        ]
        if letters:
            self.store.add_dead_letters(letters)
            log.warning("dead letters batch %d: %d rejected, first: %s", batch_id, len(letters),
                        letters[0].reason)

