"""The leaderboard tables as everyone but the stream sees them, and the one way to connect.

:class:`LeaderboardStore` reads boards, totals, windows, progress, dead letters, late facts
and daily boards (the API, the CLI, Dagster's assets and checks) and writes the daily boards
(Dagster's ``daily_leaderboards``). The streaming job's writes and start-up reads are in
``streaming.store.StreamStore``, a subclass. Either is opened by :meth:`LeaderboardStore.connect`
(or :func:`open_store`, its context manager)::

    with open_store(settings) as store:
        board = store.top(Metric.REVENUE, "GLOBAL", "all", n=10)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Self, overload

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import PreparedStatement

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
from topproducts.settings import Settings

STREAM_QUERY = "leaderboards"  # the streaming job's one query: its progress row's name
CONCURRENCY = 64  # statements in flight per store


@dataclass(frozen=True)
class Window:
    """A leaderboard window; ``start is None`` means all-time."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def id(self) -> str:
        return window_id(self.start)


ALL = Window()



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
def utc(v: datetime) -> datetime: ...
@overload
def utc(v: None) -> None: ...
@overload
def utc(v: datetime | None) -> datetime | None: ...
def utc(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


ITEM_COLUMNS = "variant_id, product_id, product_name, material, seller, quantity, revenue_usd"


def item_of(product_id: int, material: str, variant_id: int, product_name: str,
            seller: str | None, quantity: int, revenue_usd: Any) -> ItemTotal:
    """An item from its stored key columns ('' and 0 mean "not at this granularity")."""
    return ItemTotal(product_id=product_id, product_name=product_name,
                     material=material or None, variant_id=variant_id or None,
                     seller=seller if variant_id else None, quantity=quantity,
                     revenue_usd=revenue_usd)


def item_row(row: Any) -> ItemTotal:
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

    @classmethod
    def connect(cls, settings: Settings, create: bool = True) -> Self:
        """A store on a new session to the configured keyspace, with the window geometry;
        ``create`` first makes sure the keyspace and tables exist. :meth:`close` ends it."""
        session = cassandra_io.connect(settings)
        try:
            if create:
                ensure_schema(session, settings)
        except BaseException:
            session.cluster.shutdown()
            raise
        return cls(session, settings.cassandra_keyspace, Geometry.configured(settings))

    @classmethod
    def opened(cls, settings: Settings, create: bool = True) -> closing[Self]:
        """:meth:`connect` as a context manager that closes the store."""
        return closing(cls.connect(settings, create))

    def close(self) -> None:
        """Shut the session's cluster down (its connections and threads)."""
        self.session.cluster.shutdown()

    def _p(self, cql: str) -> PreparedStatement:
        stmt = self._prepared.get(cql)
        if stmt is None:
            stmt = self._prepared[cql] = self.session.prepare(cql.format(ks=self.ks))
            # Every statement writes or reads absolute values: sending it again (to another
            # node, when one is slow or cut off: cassandra_io's speculative executions) is safe.
            stmt.is_idempotent = True
        return stmt

    def late_facts(self, days: Sequence[date]) -> list[LateFact]:
        """The stream's late facts whose orders were confirmed on ``days`` (UTC)."""
        rows = self._many("SELECT * FROM {ks}.late_facts WHERE day = ?",
                          [(d,) for d in days], lambda r: r)
        return [LateFact(order_id=r.order_id, event_type=r.event_type, country=r.country,
                         confirmed_at=utc(r.confirmed_at), occurred_at=utc(r.occurred_at),
                         watermark=utc(r.watermark), missed_from=utc(r.missed_from),
                         missed_to=utc(r.missed_to), counted_from=utc(r.counted_from))
                for found in rows.values() for r in found]

    def _run_all(self, statements: list[tuple]) -> None:
        if statements:
            for ok, result in execute_concurrent(self.session, statements,
                                                 concurrency=CONCURRENCY,
                                                 raise_on_first_error=False):
                if not ok:
                    raise result

    def pane_starts(self, scope: str, since_us: int | None = None) -> list[int]:
        """Starts (µs) of the panes with data for ``scope``, from ``since_us`` on."""
        if since_us is None:
            rows = self.session.execute(
                self._p("SELECT pane_start FROM {ks}.panes WHERE scope = ?"), (scope,))
        else:
            rows = self.session.execute(
                self._p("SELECT pane_start FROM {ks}.panes WHERE scope = ? AND pane_start >= ?"),
                (scope, from_micros(since_us)))
        return [to_micros(utc(r.pane_start)) for r in rows]

    # -- reads (CLI, API, Dagster, and the stream's re-ranking) ----------------
    def top(self, metric: Metric, scope: str, wid: str, n: int | None = None,
            by: Granularity = DEFAULT_GRANULARITY) -> Leaderboard:
        """The leaderboard for (metric, granularity, scope, window): one row read."""
        cql = ("SELECT ranked, window_start, window_end, updated_at FROM {ks}.boards "
               "WHERE window_id = ? AND scope = ? AND metric = ? AND granularity = ?")
        row = self.session.execute(self._p(cql), (wid, scope, metric.value, by.value)).one()
        if row is None:
            return Leaderboard(metric, by, scope, ALL, [], None)  # no window to name
        entries = _ranked(row.ranked)
        return Leaderboard(
            metric=metric, by=by, scope=scope,
            window=Window(utc(row.window_start), utc(row.window_end)),
            entries=entries if n is None else entries[:n], updated_at=utc(row.updated_at))

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
        read_all = self._many(f"SELECT {ITEM_COLUMNS} FROM {{ks}}.item_totals WHERE scope = ?",
                              all_time, item_row)
        all_panes = sorted({p for ps in panes.values() for p in ps})
        read_panes = self._many(f"SELECT {ITEM_COLUMNS} FROM {{ks}}.pane_totals WHERE scope = ? "
                                "AND pane_start = ?", all_panes, item_row)
        read_tails = self._many(f"SELECT from_end, {ITEM_COLUMNS} FROM {{ks}}.pane_tail_totals "
                                "WHERE scope = ? AND pane_start = ?", all_panes,
                                lambda r: (utc(r.from_end), item_row(r)))
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
        return [Window(utc(r.window_start), utc(r.window_end)) for r in rows]

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
                           kafka_timestamp=utc(r.kafka_timestamp), key=r.message_key,
                           value=r.value, reason=r.reason, seen_at=utc(r.seen_at))
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
            (board, (b.metric.value, b.by.value, b.scope, day, board_entries(b.entries),
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
                counted_until=utc(row.counted_until) if row else None,
                final=bool(row.final) if row else False,
                updated_at=utc(row.updated_at) if row else None))
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
        rows = self._many(f"SELECT {ITEM_COLUMNS} FROM {{ks}}.pane_totals WHERE scope = ? "
                          "AND pane_start = ?", keys, item_row)
        tails = self._many(f"SELECT {ITEM_COLUMNS} FROM {{ks}}.pane_tail_totals WHERE scope = ? "
                           "AND pane_start = ?", keys, item_row)
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


def board_entries(ranked: Sequence[Ranked]) -> list[tuple]:
    """A board's entries as stored (``leaderboard`` and ``daily_leaderboard`` rows); read
    back by :func:`_ranked`."""
    return [(r.rank, r.item.product_id, r.item.product_name, r.item.material or "",
             r.item.variant_id or 0, r.item.seller, r.value, r.item.quantity,
             r.item.revenue_usd) for r in ranked]


def _ranked(rows: Sequence[tuple] | None) -> list[Ranked]:
    return [Ranked(rank, item_of(p, material, v, name, seller, q, rev), value)
            for rank, p, name, material, v, seller, value, q, rev in (rows or [])]


def _progress(r: Any) -> Progress:
    return Progress(
        query=r.query, run_id=r.run_id or "", batch_id=r.batch_id,
        end_offsets=r.end_offsets or "{}", input_rows=r.input_rows or 0,
        input_rows_per_second=r.input_rows_per_second or 0.0,
        processed_rows_per_second=r.processed_rows_per_second or 0.0,
        batch_duration_ms=r.batch_duration_ms or 0, watermark=utc(r.watermark),
        late_rows_dropped=r.late_rows_dropped or 0,
        late_rows_dropped_total=getattr(r, "late_rows_dropped_total", None) or 0,
        state_rows=r.state_rows or 0, batch_at=utc(r.batch_at),
        updated_at=utc(getattr(r, "updated_at", None) or r.batch_at),
        pending_boards=getattr(r, "pending_boards", None) or 0,
    )


def open_store(settings: Settings, create: bool = True) -> closing[LeaderboardStore]:
    """The shared store, opened as a context manager (:meth:`LeaderboardStore.opened`)."""
    return LeaderboardStore.opened(settings, create)


__all__ = [
    "ALL", "STREAM_QUERY", "DailyLeaderboard", "DeadLetter", "Leaderboard", "LeaderboardStore",
    "Progress", "Window", "board_entries", "open_store",
]
