"""Reading and writing the leaderboard tables (one adapter; CQL lives only here).

The stream writes through :class:`LeaderboardStore`'s write methods; the CLI, the
API and Dagster checks read through its read methods. Every write is an
absolute value keyed by its primary key, so replaying a batch writes the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, overload

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from topproducts import cassandra_io
from topproducts.leaderboards.daily import DayBoard
from topproducts.leaderboards.ranking import (
    ALL_TIME,
    DEFAULT_GRANULARITY,
    Geometry,
    Granularity,
    ItemTotal,
    Metric,
    Ranked,
    from_micros,
    parse_window_id,
    roll_up,
    to_micros,
    window_id,
)
from topproducts.leaderboards.schema import ensure_schema
from topproducts.leaderboards.windowing import LateFact
from topproducts.money import cents, from_cents
from topproducts.settings import Settings

STREAM_QUERY = "leaderboards"  # the streaming job's one query: its progress row's name
CONCURRENCY = 64
# Rows per single-partition batch: at most ~30 KB (a whole row is ~150 bytes, a numbers-only
# one ~70), under the batch size warning of infra/conf/*/cassandra.yaml (64 KiB); 200 rows
# cost ~20% less per row than 40 (fewer requests for the driver and the coordinator).
ROWS_PER_BATCH = 200


@dataclass(frozen=True)
class Window:
    """A leaderboard window; ``start is None`` means all-time."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def id(self) -> str:
        return window_id(self.start)


ALL = Window()


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


@dataclass(frozen=True)
class Leaderboard:
    metric: Metric
    by: Granularity
    scope: str
    window: Window
    entries: list[Ranked]
    updated_at: datetime | None


@dataclass(frozen=True)
class Progress:
    """One micro-batch of one streaming query, as the Dagster sensor reads it."""

    query: str
    run_id: str
    batch_id: int
    end_offsets: str  # JSON: {"topic": {"partition": offset}}
    input_rows: int
    input_rows_per_second: float
    processed_rows_per_second: float
    batch_duration_ms: int
    watermark: datetime | None
    late_rows_dropped: int
    late_rows_dropped_total: int
    state_rows: int
    batch_at: datetime
    updated_at: datetime
    pending_boards: int = 0  # boards the stream has not written yet (deferred windows)

    def offsets(self) -> dict[str, dict[int, int]]:
        raw = json.loads(self.end_offsets or "{}")
        return {t: {int(p): int(o) for p, o in parts.items()} for t, parts in raw.items()}


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    kafka_timestamp: datetime
    key: str | None
    value: bytes | None
    reason: str
    seen_at: datetime | None = None

    @property
    def day(self) -> date:
        return self.kafka_timestamp.astimezone(UTC).date()

    def text(self) -> str:
        return "" if self.value is None else self.value.decode("utf-8", errors="replace")


@overload
def _utc(v: datetime) -> datetime: ...
@overload
def _utc(v: None) -> None: ...
@overload
def _utc(v: datetime | None) -> datetime | None: ...
def _utc(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


_ITEM_COLS = "variant_id, product_id, product_name, material, seller, quantity, revenue_usd"
# the ledger's tables: all-time, a pane's whole slice, a pane's later slices (the windowing)
_TOTALS_TABLES = {"all": ("item_totals", "scope"), "pane": ("pane_totals", "scope, pane_start"),
                  "tail": ("pane_tail_totals", "scope, pane_start, from_end")}


def item_of(product_id: int, material: str, variant_id: int, product_name: str,
            seller: str | None, quantity: int, revenue_usd: Any) -> ItemTotal:
    """An item from its stored key columns ('' and 0 mean "not at this granularity")."""
    return ItemTotal(product_id=product_id, product_name=product_name,
                     material=material or None, variant_id=variant_id or None,
                     seller=seller if variant_id else None, quantity=quantity,
                     revenue_usd=revenue_usd)


def _item(row: Any) -> ItemTotal:
    return item_of(row.product_id, row.material, row.variant_id, row.product_name, row.seller,
                   row.quantity, row.revenue_usd)


class LeaderboardStore:
    """Prepared statements over one Cassandra session and keyspace."""

    def __init__(self, session: Session, keyspace: str, geometry: Geometry | None = None
                 ) -> None:
        self.session = session
        self.ks = keyspace
        self.geometry = geometry  # needed to read a window's totals (the sum of its panes)
        self._prepared: dict[str, PreparedStatement] = {}

    def _p(self, cql: str) -> PreparedStatement:
        stmt = self._prepared.get(cql)
        if stmt is None:
            stmt = self._prepared[cql] = self.session.prepare(cql.format(ks=self.ks))
        return stmt

    # -- writes (the stream) ---------------------------------------------------
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
        cols = f"{_ITEM_COLS}, updated_at, batch_id, prev_quantity, prev_revenue_usd"
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

    def late_facts(self, days: Sequence[date]) -> list[LateFact]:
        """The stream's late facts whose orders were confirmed on ``days`` (UTC)."""
        rows = self._many("SELECT * FROM {ks}.late_facts WHERE day = ?",
                          [(d,) for d in days], lambda r: r)
        return [LateFact(order_id=r.order_id, event_type=r.event_type, country=r.country,
                         confirmed_at=_utc(r.confirmed_at), occurred_at=_utc(r.occurred_at),
                         watermark=_utc(r.watermark), missed_from=_utc(r.missed_from),
                         missed_to=_utc(r.missed_to), counted_from=_utc(r.counted_from))
                for found in rows.values() for r in found]

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
        and items that fell out of the top are simply not in the new list."""
        stmt = self._p("INSERT INTO {ks}.leaderboard (metric, granularity, scope, window_id, "
                       "ranked, window_start, window_end, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        for metric, by, scope, window, ranked in boards:
            yield stmt, (metric.value, by.value, scope, window.id, _entries(ranked),
                         window.start, window.end, now)

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

    def _run_all(self, statements: list[tuple]) -> None:
        if statements:
            for ok, result in execute_concurrent(self.session, statements,
                                                 concurrency=CONCURRENCY,
                                                 raise_on_first_error=False):
                if not ok:
                    raise result

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
        cols = f"{_ITEM_COLS}, batch_id, prev_quantity, prev_revenue_usd"
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
                              to_micros(_utc(r.from_end)))

    def pane_starts(self, scope: str, since_us: int | None = None) -> list[int]:
        """Starts (µs) of the panes with data for ``scope``, from ``since_us`` on."""
        if since_us is None:
            rows = self.session.execute(
                self._p("SELECT pane_start FROM {ks}.panes WHERE scope = ?"), (scope,))
        else:
            rows = self.session.execute(
                self._p("SELECT pane_start FROM {ks}.panes WHERE scope = ? AND pane_start >= ?"),
                (scope, from_micros(since_us)))
        return [to_micros(_utc(r.pane_start)) for r in rows]

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

    # -- reads (CLI, API, Dagster, and the stream's re-ranking) ----------------
    def top(self, metric: Metric, scope: str, wid: str, n: int | None = None,
            by: Granularity = DEFAULT_GRANULARITY) -> Leaderboard:
        """The leaderboard for (metric, granularity, scope, window): one row read."""
        cql = ("SELECT ranked, window_start, window_end, updated_at FROM {ks}.leaderboard "
               "WHERE metric = ? AND granularity = ? AND scope = ? AND window_id = ?")
        row = self.session.execute(self._p(cql), (metric.value, by.value, scope, wid)).one()
        if row is None:
            return Leaderboard(metric, by, scope, ALL, [], None)  # no window to name
        entries = _ranked(row.ranked)
        return Leaderboard(
            metric=metric, by=by, scope=scope,
            window=Window(_utc(row.window_start), _utc(row.window_end)),
            entries=entries if n is None else entries[:n], updated_at=_utc(row.updated_at))

    def totals(self, scope: str, wid: str, by: Granularity = DEFAULT_GRANULARITY
               ) -> list[ItemTotal]:
        """Exact totals of every item of ``by`` in (scope, window): all-time, or the sum of
        the window's panes, rolled up from the variants; in key order."""
        return self.totals_many([(scope, wid)], by)[(scope, wid)]

    def totals_many(
        self, keys: Sequence[tuple[str, str]], by: Granularity = DEFAULT_GRANULARITY
    ) -> dict[tuple[str, str], list[ItemTotal]]:
        """:meth:`totals` for many (scope, window_id) partitions, read concurrently."""
        all_time = [(scope,) for scope, wid in keys if wid == ALL_TIME]
        panes: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
        for scope, wid in keys:
            if wid != ALL_TIME:
                start = to_micros(parse_window_id(wid))  # type: ignore[arg-type]
                panes[(scope, wid)] = [(scope, from_micros(p))
                                       for p in self._geometry().panes_of_window(start)]
        read_all = self._many(f"SELECT {_ITEM_COLS} FROM {{ks}}.item_totals WHERE scope = ?",
                              all_time, _item)
        all_panes = sorted({p for ps in panes.values() for p in ps})
        read_panes = self._many(f"SELECT {_ITEM_COLS} FROM {{ks}}.pane_totals WHERE scope = ? "
                                "AND pane_start = ?", all_panes, _item)
        read_tails = self._many(f"SELECT from_end, {_ITEM_COLS} FROM {{ks}}.pane_tail_totals "
                                "WHERE scope = ? AND pane_start = ?", all_panes,
                                lambda r: (_utc(r.from_end), _item(r)))
        out: dict[tuple[str, str], list[ItemTotal]] = {}
        for scope, wid in keys:
            if wid == ALL_TIME:
                variants = read_all[(scope,)]
            else:  # the panes, and their later slices that reach this window's end
                end = parse_window_id(wid) + timedelta(  # type: ignore[operator]
                    microseconds=self._geometry().duration_us)
                variants = [i for p in panes[(scope, wid)] for i in read_panes[p]]
                variants += [i for p in panes[(scope, wid)] for from_end, i in read_tails[p]
                             if from_end <= end]
            out[(scope, wid)] = roll_up(variants, by)
        return out

    def item_total(self, scope: str, wid: str, variant_id: int) -> ItemTotal | None:
        """One variant's exact totals in (scope, window)."""
        return next((i for i in self.totals(scope, wid, Granularity.VARIANT)
                     if i.variant_id == variant_id), None)

    def _geometry(self) -> Geometry:
        if self.geometry is None:
            raise ValueError("this store was opened without the window geometry")
        return self.geometry

    def _many(self, cql: str, keys: Sequence[tuple], convert) -> dict:
        if not keys:
            return {}
        stmt = self._p(cql)
        out = {}
        for key, (_ok, rows) in zip(keys, execute_concurrent_with_args(
                self.session, stmt, list(keys), concurrency=CONCURRENCY,
                raise_on_first_error=True, results_generator=False), strict=True):
            out[key] = [convert(r) for r in rows]
        return out

    def windows(self, scope: str, limit: int = 50) -> list[Window]:
        """Windows with data for ``scope``, newest first."""
        cql = ("SELECT window_start, window_end FROM {ks}.leaderboard_windows WHERE scope = ? "
               "LIMIT ?")
        rows = self.session.execute(self._p(cql), (scope, limit))
        return [Window(_utc(r.window_start), _utc(r.window_end)) for r in rows]

    def progress(self) -> list[Progress]:
        """The latest progress row of every streaming query."""
        rows = self.session.execute(f"SELECT * FROM {self.ks}.stream_progress")
        return sorted((_progress(r) for r in rows), key=lambda p: p.query)

    def progress_history(self, query: str, day: date, limit: int = 100) -> list[Progress]:
        cql = ("SELECT * FROM {ks}.stream_progress_history WHERE query = ? AND day = ? LIMIT ?")
        return [_progress(r) for r in self.session.execute(self._p(cql), (query, day, limit))]

    def count_dead_letters(self, topic: str, day: date) -> int:
        """How many messages of ``topic`` (by Kafka timestamp) were rejected on ``day``."""
        cql = "SELECT COUNT(*) FROM {ks}.dead_letters WHERE topic = ? AND day = ?"
        return int(self.session.execute(self._p(cql), (topic, day)).one()[0])

    def dead_letters(self, topic: str, day: date, limit: int = 1000) -> list[DeadLetter]:
        cql = ("SELECT * FROM {ks}.dead_letters WHERE topic = ? AND day = ? LIMIT ?")
        rows = self.session.execute(self._p(cql), (topic, day, limit))
        return [DeadLetter(topic=r.topic, partition=r.kafka_partition, offset=r.kafka_offset,
                           kafka_timestamp=_utc(r.kafka_timestamp), key=r.message_key,
                           value=r.value, reason=r.reason, seen_at=_utc(r.seen_at))
                for r in rows]

    # -- daily boards (the daily_leaderboards Dagster asset; docs/daily.md) --------------
    def write_day(self, day: date, boards: Sequence[DayBoard],
                  totals: Mapping[str, Sequence[ItemTotal]], counted_until: datetime,
                  cutoff: datetime, final: bool, now: datetime) -> None:
        """Write one day's boards and variant totals, each row whole: re-running a day
        replaces every row with the same values (and empties a board that lost its sales)."""
        board = self._p("INSERT INTO {ks}.daily_leaderboard (metric, granularity, scope, day, "
                        "ranked, counted_until, cutoff, final, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        total = self._p("INSERT INTO {ks}.daily_totals (scope, day, items, counted_until, "
                        "updated_at) VALUES (?, ?, ?, ?, ?)")
        statements: list[tuple] = [
            (board, (b.metric.value, b.by.value, b.scope, day, _entries(b.entries),
                     counted_until, cutoff, final, now)) for b in boards]
        statements += [
            (total, (scope, day, [(i.variant_id or 0, i.product_id, i.product_name,
                                   i.material or "", i.seller, i.quantity, i.revenue_usd)
                                  for i in items], counted_until, now))
            for scope, items in totals.items()]
        self._run_all(statements)

    def daily_top(self, metric: Metric, scope: str, day: date, n: int | None = None,
                  by: Granularity = DEFAULT_GRANULARITY) -> DailyLeaderboard:
        """One day's board: one partition read (empty, ``materialized`` False, if the day
        was never materialized)."""
        return self.daily_tops(metric, scope, [day], n, by)[0]

    def daily_tops(self, metric: Metric, scope: str, days: Sequence[date],
                   n: int | None = None, by: Granularity = DEFAULT_GRANULARITY
                   ) -> list[DailyLeaderboard]:
        """The boards of several days (one partition read each, concurrently), in order."""
        rows = self._many("SELECT ranked, counted_until, final, updated_at FROM "
                          "{ks}.daily_leaderboard WHERE metric = ? AND granularity = ? "
                          "AND scope = ? AND day = ?",
                          [(metric.value, by.value, scope, d) for d in days], lambda r: r)
        out = []
        for d in days:
            found = rows[(metric.value, by.value, scope, d)]
            row = found[0] if found else None
            entries = _ranked(row.ranked if row else None)
            out.append(DailyLeaderboard(
                metric, by, scope, d, entries if n is None else entries[:n],
                counted_until=_utc(row.counted_until) if row else None,
                final=bool(row.final) if row else False,
                updated_at=_utc(row.updated_at) if row else None))
        return out

    def daily_totals(self, scopes: Sequence[str], day: date) -> dict[str, list[ItemTotal]]:
        """A day's exact variant totals per scope, as the daily asset stored them."""
        rows = self._many("SELECT items FROM {ks}.daily_totals WHERE scope = ? AND day = ?",
                          [(s, day) for s in scopes], lambda r: r.items or [])
        return {s: [item_of(p, m, v, name, seller, q, rev)
                    for found in rows[(s, day)] for v, p, name, m, seller, q, rev in found]
                for s in scopes}

    def pane_totals_between(self, scopes: Sequence[str], start: datetime, end: datetime
                            ) -> dict[str, list[ItemTotal]]:
        """The stream's variant totals summed over its panes starting in [start, end), per
        scope (the batch path's cross-check against the streaming path)."""
        lo, hi = to_micros(start), to_micros(end)
        keys = [(s, from_micros(p)) for s in scopes for p in self.pane_starts(s, lo) if p < hi]
        rows = self._many(f"SELECT {_ITEM_COLS} FROM {{ks}}.pane_totals WHERE scope = ? "
                          "AND pane_start = ?", keys, _item)
        tails = self._many(f"SELECT {_ITEM_COLS} FROM {{ks}}.pane_tail_totals WHERE scope = ? "
                           "AND pane_start = ?", keys, _item)
        return {s: roll_up([i for read in (rows, tails) for (scope, _p), items in read.items()
                            if scope == s for i in items], Granularity.VARIANT)
                for s in scopes}


@dataclass(frozen=True)
class DailyLeaderboard:
    """One day's board as stored: ``counted_until`` is None when never materialized."""

    metric: Metric
    by: Granularity
    scope: str
    day: date
    entries: list[Ranked]
    counted_until: datetime | None
    final: bool
    updated_at: datetime | None

    @property
    def materialized(self) -> bool:
        return self.counted_until is not None


def _entries(ranked: Sequence[Ranked]) -> list[tuple]:
    """A board's entries as stored (``leaderboard`` and ``daily_leaderboard`` rows)."""
    return [(r.rank, r.item.product_id, r.item.product_name, r.item.material or "",
             r.item.variant_id or 0, r.item.seller, r.value, r.item.quantity,
             r.item.revenue_usd) for r in ranked]


def _ranked(rows: Sequence[tuple] | None) -> list[Ranked]:
    return [Ranked(rank, item_of(p, material, v, name, seller, q, rev), value)
            for rank, p, name, material, v, seller, value, q, rev in (rows or [])]


def _stored(scope: str, period_us: int | None, r: Any, from_end_us: int | None = None
            ) -> StoredTotal:
    old = None
    if r.prev_quantity is not None:
        old = item_of(r.product_id, r.material, r.variant_id, r.product_name, r.seller,
                      r.prev_quantity, r.prev_revenue_usd)
    return StoredTotal(scope, period_us, r.batch_id if r.batch_id is not None else -1,
                       _item(r), old, from_end_us)


def _progress(r: Any) -> Progress:
    return Progress(
        query=r.query, run_id=r.run_id or "", batch_id=r.batch_id,
        end_offsets=r.end_offsets or "{}", input_rows=r.input_rows or 0,
        input_rows_per_second=r.input_rows_per_second or 0.0,
        processed_rows_per_second=r.processed_rows_per_second or 0.0,
        batch_duration_ms=r.batch_duration_ms or 0, watermark=_utc(r.watermark),
        late_rows_dropped=r.late_rows_dropped or 0,
        late_rows_dropped_total=getattr(r, "late_rows_dropped_total", None) or 0,
        state_rows=r.state_rows or 0, batch_at=_utc(r.batch_at),
        updated_at=_utc(getattr(r, "updated_at", None) or r.batch_at),
        pending_boards=getattr(r, "pending_boards", None) or 0,
    )


@contextmanager
def open_store(settings: Settings, create: bool = True) -> Iterator[LeaderboardStore]:
    """A store on the configured keyspace; creates the schema first unless ``create=False``."""
    session = cassandra_io.connect(settings)
    try:
        if create:
            ensure_schema(session, settings)
        yield LeaderboardStore(session, settings.cassandra_keyspace,
                               Geometry.configured(settings))
    finally:
        session.cluster.shutdown()


__all__ = [
    "ALL", "STREAM_QUERY", "BatchWrite", "BoardWrite", "DailyLeaderboard", "DeadLetter",
    "Leaderboard",
    "LeaderboardStore",
    "Progress", "StoredTotal", "StreamState", "TotalChange", "Window", "open_store",
]
