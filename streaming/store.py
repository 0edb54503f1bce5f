"""The stream's side of the leaderboard tables: its writes, its crash recovery and their types.

:class:`StreamStore` is the shared :class:`~topproducts.leaderboards.store.LeaderboardStore`
(reads, one way to connect) plus what only the streaming job does: write a micro-batch's
totals, boards, indexes, ledger chunks, late facts and dead letters; write its progress;
and read back, at start-up, the totals, ledger and state it wrote. Every write is an
absolute value with the batch id and the value it replaces, so replaying a batch writes
the same rows (:mod:`streaming.counting` and :mod:`streaming.ledger` restore from them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType

from topproducts.leaderboards.ranking import (
    Granularity,
    ItemTotal,
    Metric,
    Ranked,
    from_micros,
    to_micros,
)
from topproducts.leaderboards.store import (
    CONCURRENCY,
    ITEM_COLUMNS,
    DeadLetter,
    LeaderboardStore,
    Progress,
    Window,
    board_entries,
    item_of,
    item_row,
    utc,
)
from topproducts.leaderboards.windowing import LateFact
from topproducts.money import cents, from_cents

# Rows per single-partition batch: at most ~30 KB (a whole row is ~150 bytes, a numbers-only
# one ~70), under the batch size warning of infra/conf/*/cassandra.yaml (64 KiB); 200 rows
# cost ~20% less per row than 40 (fewer requests for the driver and the coordinator).
ROWS_PER_BATCH = 200
# Board entries per single-partition batch: an entry is ~130 bytes, so ~40 KB, under the
# batch size warning (64 KiB); a window's 36 boards of 10 entries take two batches.
ENTRIES_PER_BATCH = 300

# the totals tables: all-time, a pane's whole slice, a pane's later slices (the windowing)
_TOTALS_TABLES = {"all": ("item_totals", "scope"), "pane": ("pane_totals", "scope, pane_start"),
                  "tail": ("pane_tail_totals", "scope, pane_start, from_end")}


class TotalChange:
    """A variant's absolute total the stream writes, with the value it replaces.

    The counter makes one per changed (scope, period, variant) in its hot loop, so it holds
    plain numbers (revenue in whole cents) and builds :class:`ItemTotal` values only when
    asked (:attr:`new`, :attr:`old`). ``period`` None: all-time, else the slice
    (pane start, first window end) of :mod:`topproducts.leaderboards.windowing`;
    ``old_quantity`` None: a new row. ``described``: the row's descriptive columns
    (product, name, material, seller) are written too, as for a new row or an item whose
    name or seller changed; otherwise only its numbers are (an UPDATE of the row).
    """

    __slots__ = ("cents", "described", "from_end_us", "material", "old_cents", "old_quantity",
                 "period_us", "product_id", "product_name", "quantity", "scope", "seller",
                 "variant_id")
    period_us: int | None
    from_end_us: int | None

    def __init__(self, scope: str, period: tuple[int, int] | None, variant_id: int,
                 product_id: int,
                 material: str, product_name: str, seller: str | None, quantity: int,
                 cents: int, old_quantity: int | None = None, old_cents: int | None = None,
                 described: bool = True) -> None:
        self.scope, self.variant_id = scope, variant_id
        self.period_us, self.from_end_us = period if period is not None else (None, None)
        self.product_id, self.material, self.product_name = product_id, material, product_name
        self.seller, self.quantity, self.cents = seller, quantity, cents
        self.old_quantity, self.old_cents = old_quantity, old_cents
        self.described = described or old_quantity is None

    @classmethod
    def of(cls, scope: str, period: tuple[int, int] | None, new: ItemTotal,
           old: ItemTotal | None = None) -> TotalChange:
        """From item values (revenue with at most 2 places)."""
        return cls(scope, period, new.variant_id or 0, new.product_id, new.material or "",
                   new.product_name, new.seller, new.quantity, _exact_cents(new.revenue_usd),
                   None if old is None else old.quantity,
                   None if old is None else _exact_cents(old.revenue_usd))

    @property
    def new(self) -> ItemTotal:
        return item_of(self.product_id, self.material, self.variant_id, self.product_name,
                       self.seller, self.quantity, from_cents(self.cents))

    @property
    def old(self) -> ItemTotal | None:
        if self.old_quantity is None or self.old_cents is None:
            return None
        return item_of(self.product_id, self.material, self.variant_id, self.product_name,
                       self.seller, self.old_quantity, from_cents(self.old_cents))

    def __repr__(self) -> str:
        return (f"TotalChange({self.scope!r}, {self.period_us!r}/{self.from_end_us!r}, "
                f"variant {self.variant_id}: "
                f"{self.quantity} / {self.cents} cents, was {self.old_quantity} / "
                f"{self.old_cents}{'' if self.described else ', numbers only'})")


def _exact_cents(amount: Decimal) -> int:
    value = cents(amount)
    if from_cents(value) != amount:
        raise ValueError(f"{amount} has more than 2 decimal places")
    return value


@dataclass(frozen=True)
class StoredTotal:
    """A variant's total as stored: its value, the batch that wrote it, and the value it
    replaced. ``period_us``: None (all-time) or the pane's start; ``from_end_us``: the first
    window end of a pane's later slice (None: the whole pane)."""

    scope: str
    period_us: int | None
    batch_id: int
    new: ItemTotal
    old: ItemTotal | None
    from_end_us: int | None = None


@dataclass(frozen=True)
class StreamState:
    """The stream's own state beside the totals: watermark input and late count."""

    query: str
    batch_id: int
    max_event_us: int | None
    late_total: int
    prev_max_event_us: int | None
    prev_late_total: int


BoardWrite = tuple[Metric, Granularity, str, "Window", list[Ranked]]  # (.., scope, ..)


def _scope_chunks(scopes: list[list[BoardWrite]]) -> Iterator[list[BoardWrite]]:
    """One window's boards, grouped by scope, cut into batches of whole scopes of at most
    :data:`ENTRIES_PER_BATCH` entries (a scope bigger than that alone)."""
    chunk: list[BoardWrite] = []
    size = 0
    for boards in scopes:
        entries = sum(max(len(b[4]), 1) for b in boards)
        if chunk and size + entries > ENTRIES_PER_BATCH:
            yield chunk
            chunk, size = [], 0
        chunk += boards
        size += entries
    if chunk:
        yield chunk


@dataclass(frozen=True)
class ChunkWrite:
    """One changed chunk of the stream's ledger of counted orders (``streaming.ledger``):
    its packed bits now and before the batch (None: the chunk is new)."""

    event_type: str
    chunk: int
    bits: bytes
    prev_bits: bytes | None


@dataclass(frozen=True)
class StoredChunk:
    event_type: str
    chunk: int
    batch_id: int
    bits: bytes
    prev_bits: bytes | None


@dataclass
class BatchWrite:
    """Everything one micro-batch writes; every value absolute."""

    query: str
    batch_id: int
    totals: Sequence[TotalChange]
    boards: Sequence[BoardWrite]
    panes: Iterable[tuple[str, int]]  # (scope, pane start us)
    windows: Iterable[tuple[str, Window]]
    state: StreamState
    dead_letters: Sequence[DeadLetter]
    now: datetime
    counted: Sequence[ChunkWrite] = ()
    late_facts: Sequence[LateFact] = ()


class StreamStore(LeaderboardStore):
    """The leaderboard store with the streaming job's writes and start-up reads."""

    def write_batch(self, w: BatchWrite) -> None:
        """Write one batch's totals, boards, indexes, state, dead letters and ledger chunks,
        concurrently."""
        self._run_all([*self._total_statements(w), *self._board_statements(w.boards, w.now),
                       *self._index_statements(w), *self._dead_letter_statements(w.dead_letters),
                       *self._ledger_statements(w), *self._late_statements(w)])

    def write_boards(self, boards: Sequence[BoardWrite], now: datetime) -> None:
        """Write boards alone (the stream's deferred boards: at a refresh, beside the next
        batch, and when it goes idle)."""
        self._run_all(list(self._board_statements(boards, now)))

    def _total_statements(self, w: BatchWrite) -> Iterator[tuple]:
        numbers = "quantity = ?, revenue_usd = ?, updated_at = ?, batch_id = ?, " \
                  "prev_quantity = ?, prev_revenue_usd = ?"
        cols = f"{ITEM_COLUMNS}, updated_at, batch_id, prev_quantity, prev_revenue_usd"
        # per table: its key columns, then the statements for a whole row and for numbers
        tables = {kind: (key, self._p(f"INSERT INTO {{ks}}.{table} ({key}, {cols}) VALUES "
                                      f"({', '.join('?' * (key.count(',') + 12))})"),
                         self._p(f"UPDATE {{ks}}.{table} SET {numbers} WHERE " + " AND ".join(
                             f"{c} = ?" for c in (*key.split(", "), "variant_id"))))
                  for kind, (table, key) in _TOTALS_TABLES.items()}
        now, batch_id = w.now, w.batch_id
        slide = self._geometry().slide_us if any(t.period_us is not None for t in w.totals) \
            else 0
        # One single-partition batch per (scope, period) chunk: one mutation for Cassandra.
        by_partition: dict[tuple[str, int | None, int | None], list[TotalChange]] = {}
        for t in w.totals:
            by_partition.setdefault((t.scope, t.period_us, t.from_end_us), []).append(t)
        for (scope, period, from_end), rows in by_partition.items():
            key: tuple[object, ...]
            if period is None:
                kind, key = "all", (scope,)
            elif from_end == period + slide:
                kind, key = "pane", (scope, from_micros(period))
            else:
                assert from_end is not None  # a slice's period and first end come together
                kind, key = "tail", (scope, from_micros(period), from_micros(from_end))
            _cols, insert, update = tables[kind]
            for i in range(0, len(rows), ROWS_PER_BATCH):
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                batch.is_idempotent = True  # absolute values (see LeaderboardStore._p)
                for t in rows[i:i + ROWS_PER_BATCH]:
                    old = None if t.old_cents is None else from_cents(t.old_cents)
                    if t.described:
                        batch.add(insert, (
                            *key, t.variant_id, t.product_id, t.product_name,
                            t.material or None, t.seller, t.quantity, from_cents(t.cents), now,
                            batch_id, t.old_quantity, old))
                    else:
                        batch.add(update, (
                            t.quantity, from_cents(t.cents), now, batch_id, t.old_quantity,
                            old, *key, t.variant_id))
                yield batch, ()

    def _late_statements(self, w: BatchWrite) -> Iterator[tuple]:
        stmt = self._p("INSERT INTO {ks}.late_facts (day, order_id, event_type, country, "
                       "confirmed_at, occurred_at, watermark, missed_from, missed_to, "
                       "counted_from, batch_id, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                       "?, ?)")
        for f in w.late_facts:
            yield stmt, (f.confirmed_at.astimezone(UTC).date(), f.order_id, f.event_type,
                         f.country, f.confirmed_at, f.occurred_at, f.watermark, f.missed_from,
                         f.missed_to, f.counted_from, w.batch_id, w.now)

    def _ledger_statements(self, w: BatchWrite) -> Iterator[tuple]:
        stmt = self._p("INSERT INTO {ks}.counted_orders (event_type, chunk, bits, batch_id, "
                       "prev_bits, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
        for c in w.counted:
            yield stmt, (c.event_type, c.chunk, c.bits, w.batch_id, c.prev_bits, w.now)

    def stored_chunks(self, event_types: Sequence[str]) -> Iterator[StoredChunk]:
        """The stream's ledger of counted orders, every chunk of ``event_types``."""
        stmt = self._p("SELECT chunk, batch_id, bits, prev_bits FROM {ks}.counted_orders "
                       "WHERE event_type = ?")
        for event_type in event_types:
            for r in self.session.execute(stmt, (event_type,)):
                yield StoredChunk(event_type, r.chunk, r.batch_id, r.bits, r.prev_bits)

    def _board_statements(self, boards: Iterable[BoardWrite], now: datetime
                          ) -> Iterator[tuple]:
        """Each board whole, as one row: a reader sees the old or the new board, never a mix,
        and items that fell out of the top are simply not in the new list. A window's boards
        go in single-partition batches of whole scopes (one mutation each for Cassandra)."""
        stmt = self._p("INSERT INTO {ks}.boards (window_id, scope, metric, granularity, "
                       "ranked, window_start, window_end, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        by_window: dict[str, dict[str, list[BoardWrite]]] = {}
        for board in boards:
            by_window.setdefault(board[3].id, {}).setdefault(board[2], []).append(board)
        for scopes in by_window.values():
            for chunk in _scope_chunks(list(scopes.values())):
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                batch.is_idempotent = True  # whole boards (see LeaderboardStore._p)
                for metric, by, scope, window, ranked in chunk:
                    batch.add(stmt, (window.id, scope, metric.value, by.value,
                                     board_entries(ranked), window.start, window.end, now))
                yield batch, ()

    def _index_statements(self, w: BatchWrite) -> Iterator[tuple]:
        pane = self._p("INSERT INTO {ks}.panes (scope, pane_start, updated_at) VALUES (?, ?, ?)")
        for scope, start in w.panes:
            yield pane, (scope, from_micros(start), w.now)
        window = self._p("INSERT INTO {ks}.leaderboard_windows (scope, window_start, "
                         "window_end, updated_at) VALUES (?, ?, ?, ?)")
        for scope, win in w.windows:
            yield window, (scope, win.start, win.end, w.now)
        st = w.state
        yield self._p("INSERT INTO {ks}.stream_state (query, batch_id, max_event_us, late_total, "
                      "prev_max_event_us, prev_late_total, updated_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)"), (
            st.query, st.batch_id, st.max_event_us, st.late_total, st.prev_max_event_us,
            st.prev_late_total, w.now)

    # -- the stream's start-up -----------------------------------------------------
    def stream_state(self, query: str) -> StreamState | None:
        row = self.session.execute(self._p("SELECT * FROM {ks}.stream_state WHERE query = ?"),
                                   (query,)).one()
        if row is None:
            return None
        return StreamState(row.query, row.batch_id, row.max_event_us, row.late_total or 0,
                           row.prev_max_event_us, row.prev_late_total or 0)

    def stored_totals(self, scopes: Sequence[str], pane_horizon_us: int | None
                      ) -> Iterator[StoredTotal]:
        """Every all-time variant total of ``scopes``, and pane totals from the horizon on."""
        cols = f"{ITEM_COLUMNS}, batch_id, prev_quantity, prev_revenue_usd"
        all_time = self._p(f"SELECT {cols} FROM {{ks}}.item_totals WHERE scope = ?")
        for scope, (_ok, rows) in zip(scopes, execute_concurrent_with_args(
                self.session, all_time, [(s,) for s in scopes], concurrency=CONCURRENCY,
                raise_on_first_error=True, results_generator=False), strict=True):
            for r in rows:
                yield _stored(scope, None, r)
        panes = [(scope, start) for scope in scopes
                 for start in self.pane_starts(scope, pane_horizon_us)]
        stmt = self._p(f"SELECT {cols} FROM {{ks}}.pane_totals WHERE scope = ? "
                       "AND pane_start = ?")
        for (scope, start), (_ok, rows) in zip(panes, execute_concurrent_with_args(
                self.session, stmt, [(s, from_micros(p)) for s, p in panes],
                concurrency=CONCURRENCY, raise_on_first_error=True,
                results_generator=False), strict=True):
            for r in rows:
                yield _stored(scope, start, r)
        tails = self._many(f"SELECT from_end, {cols} FROM {{ks}}.pane_tail_totals WHERE "
                           "scope = ? AND pane_start = ?",
                           [(s, from_micros(p)) for s, p in panes], lambda r: r)
        for (scope, start), rows in tails.items():
            for r in rows:
                yield _stored(scope, to_micros(start), r,
                              to_micros(utc(r.from_end)))

    def _dead_letter_statements(self, letters: Sequence[DeadLetter]) -> Iterator[tuple]:
        stmt = self._p(
            "INSERT INTO {ks}.dead_letters (topic, day, kafka_partition, kafka_offset, "
            "kafka_timestamp, message_key, value, reason, seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        for d in letters:
            yield stmt, (d.topic, d.day, d.partition, d.offset, d.kafka_timestamp, d.key,
                         d.value, d.reason, d.seen_at)

    def write_progress(self, p: Progress) -> None:
        cols = ("query, run_id, batch_id, end_offsets, input_rows, input_rows_per_second, "
                "processed_rows_per_second, batch_duration_ms, watermark, late_rows_dropped")
        values = (p.query, p.run_id, p.batch_id, p.end_offsets, p.input_rows,
                  p.input_rows_per_second, p.processed_rows_per_second, p.batch_duration_ms,
                  p.watermark, p.late_rows_dropped)
        latest = self._p(f"INSERT INTO {{ks}}.stream_progress ({cols}, late_rows_dropped_total, "
                         "state_rows, batch_at, updated_at, pending_boards) VALUES (?, ?, ?, ?, "
                         "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        history = self._p(f"INSERT INTO {{ks}}.stream_progress_history ({cols}, state_rows, "
                          "batch_at, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        self.session.execute(latest, (*values, p.late_rows_dropped_total, p.state_rows,
                                      p.batch_at, p.updated_at, p.pending_boards))
        self.session.execute(history, (*values, p.state_rows, p.batch_at,
                                       p.batch_at.astimezone(UTC).date()))

    def sync_committed(self, query: str, batch_id: int, end_offsets: str, now: datetime
                       ) -> None:
        """Set a query's progress to what its checkpoint committed (at start-up: a crash
        between a batch's commit and its progress row leaves the row one batch behind)."""
        stmt = self._p("UPDATE {ks}.stream_progress SET batch_id = ?, end_offsets = ?, "
                       "updated_at = ? WHERE query = ?")
        self.session.execute(stmt, (batch_id, end_offsets, now, query))

    def heartbeat(self, query: str, now: datetime, pending_boards: int = 0) -> None:
        """Say the query is alive though idle (no new data, so no batch)."""
        stmt = self._p("UPDATE {ks}.stream_progress SET updated_at = ?, pending_boards = ? "
                       "WHERE query = ?")
        self.session.execute(stmt, (now, pending_boards, query))


def _stored(scope: str, period_us: int | None, r: Any, from_end_us: int | None = None
            ) -> StoredTotal:
    old = None
    if r.prev_quantity is not None:
        old = item_of(r.product_id, r.material, r.variant_id, r.product_name, r.seller,
                      r.prev_quantity, r.prev_revenue_usd)
    return StoredTotal(scope, period_us, r.batch_id if r.batch_id is not None else -1,
                       item_row(r), old, from_end_us)



__all__ = [
    "BatchWrite", "BoardWrite", "ChunkWrite", "StoredChunk", "StoredTotal", "StreamState",
    "StreamStore", "TotalChange",
]
