"""The stream's counting and ranking on the driver: pure Python over one micro-batch.

Spark parses, validates and dedupes (:mod:`streaming.transforms`); each micro-batch
reaches the driver as one Arrow table of counting events and rejected messages.
Here:

1. :func:`batch_input` sums the batch per (granularity, scope, item) for all-time and
   per (granularity, scope, **slice**, item) for the windows, in Arrow (C++), and splits
   off the dead letters. A pane is one slide of event time (5 minutes); a sliding
   window (1 hour) is the sum of its 12 panes' slices, so each item is counted into 1
   slice instead of 12 windows. A slice is (pane, first window end): a confirmation
   reaches every window of its pane, a cancellation only those that end after it (the
   windowing rule, :mod:`topproducts.leaderboards.windowing`). The granularities are
   variant, product x material and product
   (:class:`topproducts.leaderboards.ranking.Granularity`).
2. :class:`Counter` holds the exact totals (all-time, and the panes that can still
   change), the window totals derived from them, the watermark and the published
   boards. :meth:`Counter.apply` folds a batch in and returns what to write: absolute
   *variant* totals with the values they replace (the ledger; coarser granularities
   are sums of it) and the boards that changed.

Publishing: all-time boards and the boards of the *hot* windows (the one a reader
gets as ``current`` and the next one, by the clock and by event time) are written in
the batch that changes them. Other open windows' boards are written at most every
``refresh`` (:attr:`Changes.deferred`: the sink writes them while Spark runs the next
batch, off the batch's path), when their window closes (in the batch: a closed window
is never published again), and when the stream goes idle (:meth:`Counter.flush`), so a
sustained load ranks 2 windows per batch instead of 12.

Lateness: the watermark is the largest own time seen in earlier batches (a
confirmation's, or a cancellation's) minus the delay (10 minutes); a window is final once
the watermark reaches its end. A fact that comes after some of its windows are final
counts all-time and in its open windows, and is recorded as a
:class:`~topproducts.leaderboards.windowing.LateFact` with the windows it missed. Panes and
windows that no on-time fact can reach any more are dropped from memory (their totals stay
in Cassandra).

Exactly-once: every value written is absolute and carries the batch id and the
value it replaced; at start-up :func:`restore` rebuilds the state from Cassandra,
taking the replaced value for rows of a batch Spark did not commit (Spark then
replays that batch with the same input), and marks every open window's boards to be
written again (a deferred board may not have been). A batch that fails ends the
process.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from streaming.store import StoredTotal, TotalChange
from topproducts.countries import GLOBAL_SCOPE
from topproducts.leaderboards import windowing
from topproducts.leaderboards.ranking import (
    Geometry,
    Granularity,
    ItemKey,
    ItemTotal,
    Metric,
    Ranked,
    from_micros,
)
from topproducts.leaderboards.store import DeadLetter, Window
from topproducts.leaderboards.windowing import LateFact, Slice
from topproducts.money import cents, from_cents

VARIANT = Granularity.VARIANT
Cell = tuple[Granularity, str]  # (granularity, scope): one family of boards
Acc = list  # [quantity: int, revenue in cents: int], mutated in place (exact integers)


class Index:
    """Dense ids of one granularity's items: the rows of its :class:`WindowSums`."""

    def __init__(self) -> None:
        self.ids: dict[ItemKey, int] = {}
        self.keys: list[ItemKey] = []

    def id(self, key: ItemKey) -> int:
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.keys)
            self.keys.append(key)
        return i


class WindowSums:
    """One window's totals per item, as numpy arrays by item id (quantity, revenue in
    cents: exact integers): a pane's batch deltas are added with one vector operation
    per window instead of one dict update per item and window.

    Reads like the dicts of all-time and pane totals (``get``, ``items``, iteration),
    plus :meth:`top`, the vectorized ranking.
    """

    def __init__(self, index: Index) -> None:
        import numpy as np

        self.index = index
        self.q = np.zeros(0, np.int64)
        self.c = np.zeros(0, np.int64)
        self.seen = np.zeros(0, bool)

    def _fit(self, size: int) -> None:
        import numpy as np

        if size > len(self.q):
            grown = max(size, 2 * len(self.q), 64)
            pad = grown - len(self.q)
            self.q = np.concatenate([self.q, np.zeros(pad, np.int64)])
            self.c = np.concatenate([self.c, np.zeros(pad, np.int64)])
            self.seen = np.concatenate([self.seen, np.zeros(pad, bool)])

    def add(self, ids: Any, quantity: Any, revenue_cents: Any) -> None:
        """Add values for distinct item ids (numpy arrays)."""
        if len(ids):
            self._fit(int(ids.max()) + 1)
            self.q[ids] += quantity
            self.c[ids] += revenue_cents
            self.seen[ids] = True

    def get(self, key: ItemKey) -> tuple[int, int] | None:
        i = self.index.ids.get(key)
        if i is None or i >= len(self.seen) or not self.seen[i]:
            return None
        return int(self.q[i]), int(self.c[i])

    def __iter__(self) -> Iterator[ItemKey]:
        import numpy as np

        keys = self.index.keys
        return (keys[i] for i in np.flatnonzero(self.seen))

    def __len__(self) -> int:
        return int(self.seen.sum())

    def items(self) -> Iterator[tuple[ItemKey, tuple[int, int]]]:
        return ((k, self.get(k)) for k in self)  # type: ignore[misc]

    def top(self, metric: Metric, n: int) -> list[tuple[ItemKey, int, int]]:
        """(key, quantity, cents) of the top ``n`` by ``metric`` (positive values; ties by
        key): one vectorized pass over every item of the window."""
        import numpy as np

        values = self.q if metric is Metric.QUANTITY else self.c
        ids = np.flatnonzero(values > 0)
        if len(ids) > n:  # keep the n largest values and every tie of the n-th
            nth = np.partition(values[ids], len(ids) - n)[len(ids) - n]
            ids = ids[values[ids] >= nth]
        keys = self.index.keys
        rows = sorted((-int(values[i]), keys[i], int(i)) for i in ids)[:n]
        return [(key, int(self.q[i]), int(self.c[i])) for _, key, i in rows]

# -- one micro-batch, in Arrow ----------------------------------------------------


Delta = tuple
"""The batch's signed sum for one item in one (granularity, scope, period): a plain tuple
``(by, scope, period, key, product_name, seller, quantity, cents)`` (period None:
all-time, else the slice ``(pane start, first window end)`` of
:mod:`topproducts.leaderboards.windowing`; key (product_id, material or "", variant_id or
0); cents: revenue in USD cents). Plain tuples: a batch makes tens of thousands."""


@dataclass
class BatchInput:
    deltas: list[Delta]
    events: int  # counting events in the batch
    late_facts: list[LateFact]  # events that came after some of their windows were final
    max_event_us: int | None  # the largest own time (confirmation or cancellation)
    dead: list[dict[str, Any]]

    @property
    def late(self) -> int:
        return len(self.late_facts)


# group keys and carried columns per granularity (material "" and variant 0 when unused)
_GROUPS: dict[Granularity, tuple[list[str], list[tuple[str, str]]]] = {
    Granularity.VARIANT: (["variant_id"], [("product_id", "max"), ("material", "max"),
                                           ("product_name", "max"), ("seller", "max")]),
    Granularity.PRODUCT_MATERIAL: (["product_id", "material"], [("product_name", "max")]),
    Granularity.PRODUCT: (["product_id"], [("product_name", "max")]),
}


def batch_input(table: Any, watermark_us: int | None, geometry: Geometry) -> BatchInput:
    """Sum one micro-batch (an Arrow table of :func:`streaming.transforms.keyed_rows`).

    Each event is one slice (:mod:`topproducts.leaderboards.windowing`): its confirmation's
    pane, from the first window end its own time reaches by the rule, or, when the windows
    before are already final at ``watermark_us``, from the first open one (a late fact,
    recorded). A slice beyond the pane's last window counts all-time only.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = table["key_kind"]
    dead = table.filter(pc.equal(kind, "dead")).select(
        ["topic", "partition", "offset", "kafka_timestamp_us", "key", "value", "reason"])
    events = table.filter(pc.and_(pc.is_valid(kind), pc.not_equal(kind, "dead")))
    if events.num_rows == 0:
        return BatchInput([], 0, [], None, dead.to_pylist())
    g = geometry
    event_us = events["event_time_us"].to_numpy()
    own_us = events["own_time_us"].to_numpy()  # set for every counting event
    pane = g.pane_of(event_us)
    rule_from = np.maximum(windowing.first_end(g, own_us), pane + g.slide_us)
    open_end = windowing.open_from(g, watermark_us)
    from_end = rule_from if open_end is None else np.maximum(rule_from, open_end)
    last = windowing.last_end(g, pane)
    windowed = from_end <= last
    late_at = np.flatnonzero((from_end > rule_from) & (rule_from <= last))
    late_facts = _late_facts(events, late_at, event_us, own_us, rule_from, from_end, last,
                             watermark_us, g) if len(late_at) else []
    items_col = events["items"].combine_chunks()
    parents = pc.list_parent_indices(items_col).to_numpy()
    items = pc.list_flatten(items_col)
    sign = pc.take(events["sign"], parents)
    negative = pc.less(sign, 0)
    revenue = items.field("revenue_usd")
    quantity = items.field("quantity")
    seller = (items.field("seller") if "seller" in {f.name for f in items.type}
              else pa.nulls(len(items), pa.string()))
    base = {
        "variant_id": items.field("variant_id"),
        "product_id": items.field("product_id"),
        "product_name": items.field("product_name"),
        "material": items.field("material"),
        "seller": seller,
        "quantity": pc.if_else(negative, pc.negate(quantity), quantity),
        "revenue_usd": pc.if_else(negative, pc.negate(revenue), revenue),
        "pane": pa.array(pane[parents], pa.int64()),
        "from_end": pa.array(from_end[parents], pa.int64()),
        "windowed": pa.array(windowed[parents], pa.bool_()),
    }
    country = pc.take(events["country"], pa.array(parents))
    rows = pa.concat_tables([
        pa.table({"scope": country, **base}),
        pa.table({"scope": pa.array([GLOBAL_SCOPE] * len(country), pa.string()), **base}),
    ])
    in_windows = rows.filter(rows["windowed"])
    deltas: list[Delta] = []
    for by, (keys, carried) in _GROUPS.items():
        aggregates = [("quantity", "sum"), ("revenue_usd", "sum"), *carried]
        all_time = rows.group_by(["scope", *keys], use_threads=False).aggregate(aggregates)
        slices = in_windows.group_by(["scope", "pane", "from_end", *keys], use_threads=False
                                     ).aggregate(aggregates)
        deltas += _deltas(by, _with_cents(all_time), windowed=False)
        deltas += _deltas(by, _with_cents(slices), windowed=True)
    return BatchInput(deltas=deltas, events=events.num_rows, late_facts=late_facts,
                      max_event_us=int(own_us.max()), dead=dead.to_pylist())


def _late_facts(events: Any, at: Any, event_us: Any, own_us: Any, rule_from: Any,
                from_end: Any, last: Any, watermark_us: int | None, g: Geometry
                ) -> list[LateFact]:
    """The records of the events at indices ``at`` (see :class:`LateFact`)."""
    taken = events.select(["key_id", "key_kind", "country"]).take(at).to_pylist()
    return [LateFact(
        order_id=r["key_id"], event_type=r["key_kind"], country=r["country"],
        confirmed_at=from_micros(int(event_us[i])), occurred_at=from_micros(int(own_us[i])),
        watermark=from_micros(watermark_us or 0),
        missed_from=from_micros(int(rule_from[i])),
        missed_to=from_micros(int(min(from_end[i] - g.slide_us, last[i]))),
        counted_from=from_micros(int(from_end[i])) if from_end[i] <= last[i] else None)
        for i, r in zip(at.tolist(), taken, strict=True)]


def _with_cents(grouped: Any) -> Any:
    """The summed revenue as integer cents (exact: the sums have 2 decimal places)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    revenue = grouped["revenue_usd_sum"].cast(pa.decimal128(30, 2))
    hundred = pa.scalar(Decimal(100), pa.decimal128(3, 0))
    return grouped.append_column("cents", pc.cast(pc.multiply(revenue, hundred), pa.int64()))


def _deltas(by: Granularity, grouped: Any, windowed: bool) -> list[Delta]:
    n = grouped.num_rows
    if n == 0:
        return []
    col = {name: grouped[name].to_pylist() for name in grouped.column_names}
    product = col.get("product_id_max") or col["product_id"]
    material = col.get("material_max") or col.get("material") or [""] * n
    variant = col.get("variant_id") or [0] * n
    seller = col.get("seller_max") or [None] * n
    periods = (list(zip(col["pane"], col["from_end"], strict=True)) if windowed
               else [None] * n)
    return [(by, scope, period, (p, m, v), name, s, q, c)
            for scope, period, p, m, v, name, s, q, c in zip(
                col["scope"], periods, product, material, variant, col["product_name_max"],
                seller, col["quantity_sum"], col["cents"], strict=True)]


def dead_letter(r: dict[str, Any], seen_at: datetime) -> DeadLetter:
    return DeadLetter(topic=r["topic"], partition=r["partition"], offset=r["offset"],
                      kafka_timestamp=from_micros(r["kafka_timestamp_us"]), key=r["key"],
                      value=r["value"], reason=r["reason"], seen_at=seen_at)


# -- the state ----------------------------------------------------------------------

BoardOut = tuple[Metric, Granularity, str, Window, list[Ranked]]


@dataclass
class Changes:
    """What one batch changed: everything the sink writes."""

    totals: list[TotalChange] = field(default_factory=list)
    boards: list[BoardOut] = field(default_factory=list)
    # deferred boards of open windows due at this refresh: the sink writes them beside the
    # next batch's Spark phase, off the batch's path (restore re-publishes open windows)
    deferred: list[BoardOut] = field(default_factory=list)
    # (scope, start) of windows and panes that got their first data: the index rows to write
    windows: set[tuple[str, int]] = field(default_factory=set)
    panes: set[tuple[str, int]] = field(default_factory=set)
    events: int = 0


Board = tuple[Metric, Cell, int | None]  # (metric, cell, window start or None)


class Counter:
    """Exact totals, window sums and boards, folded batch by batch (see the module doc)."""

    def __init__(self, geometry: Geometry, top_n: int, refresh_us: int = 2_000_000) -> None:
        self.geometry, self.top_n, self.refresh_us = geometry, top_n, refresh_us
        self.all_time: dict[Cell, dict[ItemKey, Acc]] = defaultdict(dict)
        # the windows' slices (windowing): (pane start, first window end) -> item totals
        self.panes: dict[tuple[Cell, Slice], dict[ItemKey, Acc]] = defaultdict(dict)
        self.windows: dict[tuple[Cell, int], WindowSums] = {}
        self.index: dict[Granularity, Index] = {by: Index() for by in Granularity}
        self.names: dict[ItemKey, tuple[str, str | None]] = {}  # product name, seller
        # items whose name or seller changed since the start (or that were stored with two
        # names): their rows are written whole, the others' numbers only (TotalChange)
        self.unsettled: set[ItemKey] = set()
        self.boards: dict[Board, list[Ranked]] = {}
        # windows whose boards are not written yet
        self.pending: set[tuple[Cell, int]] = set()
        self.flushed_us: int | None = None  # when pending boards were last written
        self.max_event_us: int | None = None
        self.late_total = 0
        # ("pane" | "window", scope, start) whose index row this process has written
        self.indexed: set[tuple[str, str, int]] = set()

    # -- watermark -------------------------------------------------------------
    @property
    def watermark_us(self) -> int | None:
        return None if self.max_event_us is None else self.max_event_us - self.geometry.delay_us

    @property
    def watermark(self) -> datetime | None:
        wm = self.watermark_us
        return None if wm is None else from_micros(wm)

    # -- one batch -------------------------------------------------------------
    def apply(self, batch: BatchInput, now_us: int) -> Changes:
        """Fold a batch in (computed with :attr:`watermark_us` before this call)."""
        g = self.geometry
        changes = Changes(events=batch.events)
        deltas = batch.deltas
        # the windows this batch reaches, summed from their slices as they were before it
        for cell, period in {((d[0], d[1]), d[2]) for d in deltas if d[2] is not None}:
            for start in windowing.window_starts(g, *period):
                self._window(cell, start)
        names, all_time, panes = self.names, self.all_time, self.panes
        totals = changes.totals
        unsettled, renamed = self.unsettled, set()
        touched_all: dict[Cell, set[ItemKey]] = defaultdict(set)
        touched_panes: set[tuple[Cell, Slice]] = set()
        # per (cell, slice): item ids, quantities and cents, added to its windows at once
        pane_adds: dict[tuple[Cell, Slice], tuple[list, list, list]] = {}
        for by, scope, period, key, name, seller, q, r in deltas:  # the hot loop: plain
            cell = (by, scope)                                     # dict and list operations
            named = names.get(key)
            if named is None or named[0] != name or named[1] != seller:
                if named is not None and by is VARIANT:
                    renamed.add(key)
                names[key] = (name, seller)
            cells = all_time[cell] if period is None else panes[(cell, period)]
            acc = cells.get(key)
            if acc is None:
                acc = cells[key] = [q, r]
                old_q = old_c = None
            elif q or r:
                old_q, old_c = acc
                acc[0] += q
                acc[1] += r
            else:
                continue
            if by is VARIANT:
                totals.append(TotalChange(scope, period, key[2], key[0], key[1], name, seller,
                                          acc[0], acc[1], old_q, old_c, key in unsettled))
            if period is None:
                touched_all[cell].add(key)
                continue
            adds = pane_adds.get((cell, period))
            if adds is None:
                adds = pane_adds[(cell, period)] = ([], [], [])
                touched_panes.add((cell, period))
            adds[0].append(self.index[by].id(key))
            adds[1].append(q)
            adds[2].append(r)
        if renamed:  # rare: their rows written earlier in this loop get the new name too
            unsettled |= renamed
            for t in totals:
                t.described = t.described or (t.product_id, t.material, t.variant_id) in renamed
        self._add_to_windows(pane_adds)
        # A window's board is re-ranked whole (a vectorized pass over its sums costs less
        # than gathering the changed keys of its 12 panes): only which windows changed.
        touched_windows: set[tuple[Cell, int]] = set()
        for cell, period in touched_panes:
            by, scope = cell
            if by is VARIANT and ("pane", scope, period[0]) not in self.indexed:
                changes.panes.add((scope, period[0]))
            for start in windowing.window_starts(g, *period):
                touched_windows.add((cell, start))
                if by is VARIANT and ("window", scope, start) not in self.indexed:
                    changes.windows.add((scope, start))
        if batch.max_event_us is not None and (self.max_event_us is None
                                               or batch.max_event_us > self.max_event_us):
            self.max_event_us = batch.max_event_us
        hot = self.hot_windows(now_us)
        for cell, keys in touched_all.items():
            changes.boards += self._publish(cell, None, keys)
        for cell, start in touched_windows:
            if start in hot:
                changes.boards += self._publish(cell, start)
            else:
                self.pending.add((cell, start))
        self.late_total += batch.late
        self.indexed.update(("pane", *k) for k in changes.panes)
        self.indexed.update(("window", *k) for k in changes.windows)
        # A window this batch closes gets its final boards in the batch, never deferred: a
        # restart re-publishes open windows only, so a deferred final board lost to a crash
        # after the commit would stay stale for good.
        changes.boards += self._forget_closed()
        if self.flushed_us is None or now_us - self.flushed_us >= self.refresh_us:
            changes.deferred += self.flush(now_us)
        return changes

    def _add_to_windows(self, pane_adds: dict[tuple[Cell, Slice], tuple[list, list, list]]
                        ) -> None:
        import numpy as np

        for (cell, period), (ids, quantity, revenue) in pane_adds.items():
            id_array = np.array(ids, np.int64)
            q_array = np.array(quantity, np.int64)
            c_array = np.array(revenue, np.int64)
            for start in windowing.window_starts(self.geometry, *period):
                self.windows[(cell, start)].add(id_array, q_array, c_array)

    def flush(self, now_us: int) -> list[BoardOut]:
        """Publish every pending board (the refresh, and when the stream goes idle)."""
        out: list[BoardOut] = []
        for cell, start in list(self.pending):
            out += self._publish(cell, start)
        self.flushed_us = now_us
        return out

    def hot_windows(self, now_us: int) -> set[int]:
        """Starts of the windows published every batch: the trailing window (what a reader
        gets as ``current``) and the next one, by the clock and by event time."""
        g = self.geometry
        out: set[int] = set()
        for t in (now_us, self.max_event_us):
            if t is not None:
                current = g.pane_of(t) - g.duration_us + g.slide_us
                out.update((current, current + g.slide_us))
        return out

    def _publish(self, cell: Cell, start: int | None, keys: set[ItemKey] | None = None
                 ) -> list[BoardOut]:
        """Re-rank one partition's boards (``keys``: the all-time items that changed) and
        return those that differ from what was written."""
        if start is not None:
            self.pending.discard((cell, start))
        partition = self.all_time[cell] if start is None else self._window(cell, start)
        window = Window() if start is None else window_of(self.geometry, start)
        out = []
        for metric in Metric:
            board_key = (metric, cell, start)
            board = self._rank(metric, cell[0], partition, keys, self.boards.get(board_key))
            if board != self.boards.get(board_key):
                self.boards[board_key] = board
                out.append((metric, cell[0], cell[1], window, board))
        return out

    def _rank(self, metric: Metric, by: Granularity, partition: Any,
              changed: set[ItemKey] | None, old: list[Ranked] | None) -> list[Ranked]:
        """The top N of ``partition``. A window: from every item (vectorized). All-time:
        from the old board and the changed items when no ranked item lost value (exact:
        every unchanged item outside the old top still ranks below all of it), else from
        every item."""
        if isinstance(partition, WindowSums):
            return [Ranked(rank, item, item.value(metric)) for rank, item in enumerate(
                (self._item(by, k, [q, c]) for k, q, c in partition.top(metric, self.top_n)),
                start=1)]
        i = 0 if metric is Metric.QUANTITY else 1
        merge = old is not None and changed is not None and not any(
            (partition.get(r.item.key) or (0, 0))[i] < _stored_value(r.item, i) for r in old)
        candidates = {r.item.key for r in old or ()} | (changed or set()) if merge else None
        pool: Iterable[tuple[ItemKey, Acc]] = partition.items()
        if candidates is not None:
            pool = ((k, partition[k]) for k in candidates if k in partition)
        best = heapq.nsmallest(self.top_n, ((k, a) for k, a in pool if a[i] > 0),
                               key=lambda ka: (-ka[1][i], ka[0]))
        return [Ranked(rank, item, item.value(metric)) for rank, item in enumerate(
            (self._item(by, k, a) for k, a in best), start=1)]

    def _item(self, by: Granularity, key: ItemKey, acc: Acc) -> ItemTotal:
        name, seller = self.names[key]
        return ItemTotal(product_id=key[0], product_name=name, material=key[1] or None,
                         variant_id=key[2] or None, seller=seller if by is VARIANT else None,
                         quantity=acc[0], revenue_usd=from_cents(acc[1]))

    def _window(self, cell: Cell, start: int) -> WindowSums:
        """The window's totals (summed from its panes' slices the first time it is needed)."""
        import numpy as np

        window = self.windows.get((cell, start))
        if window is None:
            g = self.geometry
            index = self.index[cell[0]]
            window = WindowSums(index)
            slices = [(pane, end) for pane in g.panes_of_window(start)
                      for end in windowing.slice_ends(g, pane, start + g.duration_us)]
            for period in slices:
                items = self.panes.get((cell, period))
                if items:
                    window.add(np.array([index.id(k) for k in items], np.int64),
                               np.array([a[0] for a in items.values()], np.int64),
                               np.array([a[1] for a in items.values()], np.int64))
            self.windows[(cell, start)] = window
        return window

    def _forget_closed(self) -> list[BoardOut]:
        """Drop panes and windows that no on-time event can change any more, publishing
        a closing window's pending boards first (its final boards)."""
        wm = self.watermark_us
        if wm is None:
            return []
        out: list[BoardOut] = []
        for cell, start in [k for k in self.pending if self._closed(k[1])]:
            out += self._publish(cell, start)
        for key in [k for k in self.windows if self._closed(k[1])]:
            del self.windows[key]
            for metric in Metric:
                self.boards.pop((metric, key[0], key[1]), None)
        horizon = self.geometry.pane_of(wm) - self.geometry.duration_us
        for pane_key in [k for k in self.panes if k[1][0] < horizon]:
            del self.panes[pane_key]
        self.indexed = {k for k in self.indexed if k[2] >= horizon}
        return out

    def _closed(self, start: int) -> bool:
        """The window is final: no on-time fact can reach it any more."""
        return windowing.is_final(self.geometry, start + self.geometry.duration_us,
                                  self.watermark_us)

    def pane_horizon_us(self) -> int | None:
        """Panes older than this are never read again (what :func:`restore` loads)."""
        wm = self.watermark_us
        return None if wm is None else self.geometry.pane_of(wm) - self.geometry.duration_us

    def state_rows(self) -> int:
        """Variant totals held (all-time and panes): the ledger rows in memory."""
        return (sum(len(v) for (by, _), v in self.all_time.items() if by is VARIANT)
                + sum(len(v) for ((by, _), _), v in self.panes.items() if by is VARIANT))

    def item(self, by: Granularity, scope: str, start: int | None, key: ItemKey
             ) -> ItemTotal | None:
        """One item's totals (tests and the reference check)."""
        cells: Any = (self.all_time[(by, scope)] if start is None
                      else self._window((by, scope), start))
        acc = cells.get(key)
        return None if acc is None else self._item(by, key, list(acc))

    # -- restore -----------------------------------------------------------------
    def load(self, scope: str, period: Slice | None, variants: Iterable[ItemTotal]) -> None:
        """Add stored variant totals (and their roll-ups) to the state."""
        for v in variants:
            for by in Granularity:
                key = (v.product_id, "" if by is Granularity.PRODUCT else v.material or "",
                       (v.variant_id or 0) if by is VARIANT else 0)
                named = self.names.get(key)
                if by is VARIANT and named is not None and named != (v.product_name, v.seller):
                    self.unsettled.add(key)
                self.names[key] = (v.product_name, v.seller)
                cell = (by, scope)
                cells = (self.all_time[cell] if period is None
                         else self.panes[(cell, period)])
                acc = cells.get(key)
                if acc is None:
                    cells[key] = [v.quantity, cents(v.revenue_usd)]
                else:
                    acc[0] += v.quantity
                    acc[1] += cents(v.revenue_usd)
                if period is not None:
                    for start in windowing.window_starts(self.geometry, *period):
                        self.pending.add((cell, start))  # re-publish: it may be behind


def _stored_value(item: ItemTotal, i: int) -> int:
    """An item's quantity (``i`` 0) or revenue in cents (1), as the counter holds them."""
    return item.quantity if i == 0 else cents(item.revenue_usd)


def window_of(geometry: Geometry, start_us: int) -> Window:
    return Window(from_micros(start_us), from_micros(start_us + geometry.duration_us))


def uncommitted(batch_id: int, last_committed: int | None) -> bool:
    """Whether a row written by ``batch_id`` is from a batch Spark did not commit (then
    its replaced value holds, and Spark replays the batch)."""
    return last_committed is None or batch_id > last_committed


def committed_value(row: StoredTotal, last_committed: int | None) -> ItemTotal | None:
    """The row's value as of Spark's last committed batch (None: the row did not exist)."""
    return row.old if uncommitted(row.batch_id, last_committed) else row.new


def restore(counter: Counter, rows: Iterator[StoredTotal], last_committed: int | None
            ) -> int:
    """Load stored totals into ``counter`` as of ``last_committed``; returns rows loaded."""
    loaded = 0
    slide = counter.geometry.slide_us
    for row in rows:
        value = committed_value(row, last_committed)
        if value is not None:
            period = None if row.period_us is None else (
                row.period_us, row.from_end_us or row.period_us + slide)
            counter.load(row.scope, period, [value])
            loaded += 1
    # closed windows' boards were final when written: nothing to re-publish
    counter.pending = {k for k in counter.pending if not counter._closed(k[1])}
    return loaded
