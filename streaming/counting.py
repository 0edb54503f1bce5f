"""The stream's counting and ranking on the driver: pure Python over one micro-batch.

Spark parses, validates and dedupes (:mod:`streaming.transforms`); each micro-batch
reaches the driver as one Arrow table of counting events and rejected messages.
Here:

1. :func:`batch_input` sums the batch per (scope, variant) for all-time and per
   (scope, **pane**, variant) for the windows, in Arrow (C++), and splits off the
   dead letters. A pane is one slide of event time (5 minutes); a sliding window
   (1 hour) is the sum of its 12 panes, so each item is counted into 1 pane
   instead of 12 windows.
2. :class:`Counter` holds the exact totals (all-time, and the panes that can still
   change), the window totals derived from them, the watermark and the published
   boards. :meth:`Counter.apply` folds a batch in and returns what to write:
   absolute totals with the values they replace, and only the boards that changed.

Lateness is Spark's rule, kept here: the watermark is the largest event time seen
in earlier batches minus the delay (10 minutes); an event older than it counts
all-time but in no window, and is counted as late. Panes and windows that no
on-time event can reach any more are dropped from memory (their totals stay in
Cassandra).

Exactly-once: every value written is absolute and carries the batch id and the
value it replaced; at start-up :func:`restore` rebuilds the state from Cassandra,
taking the replaced value for rows of a batch Spark did not commit (Spark then
replays that batch with the same input). A batch that fails ends the process.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from topproducts.countries import GLOBAL_SCOPE
from topproducts.leaderboards.ranking import (
    Geometry,
    ItemTotal,
    Metric,
    Ranked,
    from_micros,
    merge_top,
    sort_key,
)
from topproducts.leaderboards.store import DeadLetter, StoredTotal, TotalChange, Window

# -- one micro-batch, in Arrow ----------------------------------------------------


@dataclass(frozen=True)
class Delta:
    """The batch's signed sum for one item in one (scope, period)."""

    scope: str
    period_us: int | None  # None: all-time; else the pane's start
    item: ItemTotal  # quantity and revenue_usd are the deltas


@dataclass
class BatchInput:
    deltas: list[Delta]
    events: int  # counting events in the batch
    late: int  # of which older than the watermark: all-time only
    max_event_us: int | None
    dead: list[dict[str, Any]]


def batch_input(table: Any, watermark_us: int | None, geometry: Geometry) -> BatchInput:
    """Sum one micro-batch (an Arrow table of :func:`streaming.transforms.keyed_rows`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = table["key_kind"]
    dead = table.filter(pc.equal(kind, "dead")).select(
        ["topic", "partition", "offset", "kafka_timestamp_us", "key", "value", "reason"])
    events = table.filter(pc.and_(pc.is_valid(kind), pc.not_equal(kind, "dead")))
    if events.num_rows == 0:
        return BatchInput([], 0, 0, None, dead.to_pylist())
    event_us = events["event_time_us"]
    if watermark_us is None:
        late_events = pa.array([False] * events.num_rows)
    else:
        late_events = pc.less(event_us, watermark_us)
    items_col = events["items"].combine_chunks()
    parents = pc.list_parent_indices(items_col)
    items = pc.list_flatten(items_col)
    sign = pc.take(events["sign"], parents)
    negative = pc.less(sign, 0)
    revenue = items.field("revenue_usd")
    quantity = items.field("quantity")
    item_us = pc.take(event_us, parents)
    base = {
        "variant_id": items.field("variant_id"),
        "product_id": items.field("product_id"),
        "product_name": items.field("product_name"),
        "material": items.field("material"),
        "quantity": pc.if_else(negative, pc.negate(quantity), quantity),
        "revenue_usd": pc.if_else(negative, pc.negate(revenue), revenue),
        "pane": _floor_to(item_us, geometry.slide_us),
        "late": pc.take(late_events, parents),
    }
    country = pc.take(events["country"], parents)
    rows = pa.concat_tables([
        pa.table({"scope": country, **base}),
        pa.table({"scope": pa.array([GLOBAL_SCOPE] * len(country), pa.string()), **base}),
    ])
    aggregates = [("quantity", "sum"), ("revenue_usd", "sum"), ("product_id", "max"),
                  ("product_name", "max"), ("material", "max")]
    all_time = rows.group_by(["scope", "variant_id"], use_threads=False).aggregate(aggregates)
    panes = rows.filter(pc.invert(rows["late"])).group_by(
        ["scope", "pane", "variant_id"], use_threads=False).aggregate(aggregates)
    deltas = [_delta(r, None) for r in all_time.to_pylist()]
    deltas += [_delta(r, r["pane"]) for r in panes.to_pylist()]
    return BatchInput(
        deltas=deltas, events=events.num_rows,
        late=pc.sum(pc.cast(late_events, pa.int64())).as_py() or 0,
        max_event_us=pc.max(event_us).as_py(), dead=dead.to_pylist())


def _floor_to(values: Any, step: int) -> Any:
    """``values - values % step`` (Python's floor semantics) for an int64 array."""
    import pyarrow.compute as pc

    truncated = pc.multiply(pc.divide(values, step), step)  # integer division truncates
    return pc.if_else(pc.greater(truncated, values), pc.subtract(truncated, step), truncated)


def _delta(r: dict[str, Any], period_us: int | None) -> Delta:
    return Delta(r["scope"], period_us, ItemTotal(
        variant_id=r["variant_id"], product_id=r["product_id_max"],
        product_name=r["product_name_max"], material=r["material_max"],
        quantity=int(r["quantity_sum"]),
        revenue_usd=Decimal(r["revenue_usd_sum"]).quantize(Decimal("0.01"))))


def dead_letter(r: dict[str, Any], seen_at: datetime) -> DeadLetter:
    return DeadLetter(topic=r["topic"], partition=r["partition"], offset=r["offset"],
                      kafka_timestamp=from_micros(r["kafka_timestamp_us"]), key=r["key"],
                      value=r["value"], reason=r["reason"], seen_at=seen_at)


# -- the state ----------------------------------------------------------------------


@dataclass
class Changes:
    """What one batch changed: everything the sink writes."""

    totals: list[TotalChange] = field(default_factory=list)
    boards: list[tuple[Metric, str, Window, list[Ranked]]] = field(default_factory=list)
    # (scope, start) of windows and panes that got their first data: the index rows to write
    windows: set[tuple[str, int]] = field(default_factory=set)
    panes: set[tuple[str, int]] = field(default_factory=set)
    events: int = 0
    late: int = 0


Board = tuple[Metric, str, int | None]  # (metric, scope, window start or None)


def top(items: Iterable[ItemTotal], metric: Metric, n: int) -> list[Ranked]:
    """:func:`topproducts.leaderboards.ranking.rank` in O(items · log n)."""
    positive = (i for i in items if i.value(metric) > 0)
    best = heapq.nsmallest(n, positive, key=sort_key(metric))
    return [Ranked(r, item, item.value(metric)) for r, item in enumerate(best, start=1)]


class Counter:
    """Exact totals, window sums and boards, folded batch by batch (see the module doc)."""

    def __init__(self, geometry: Geometry, top_n: int) -> None:
        self.geometry, self.top_n = geometry, top_n
        self.all_time: dict[str, dict[int, ItemTotal]] = defaultdict(dict)
        self.panes: dict[tuple[str, int], dict[int, ItemTotal]] = defaultdict(dict)
        self.windows: dict[tuple[str, int], dict[int, ItemTotal]] = {}
        self.boards: dict[Board, list[Ranked]] = {}
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
    def apply(self, batch: BatchInput) -> Changes:
        """Fold a batch in (computed with :attr:`watermark_us` before this call)."""
        changes = Changes(events=batch.events, late=batch.late)
        touched: dict[tuple[str, int | None], dict[int, ItemTotal]] = defaultdict(dict)
        for d in batch.deltas:
            if d.period_us is None:
                cells = self.all_time[d.scope]
            else:
                cells = self.panes[(d.scope, d.period_us)]
                if ("pane", d.scope, d.period_us) not in self.indexed:
                    changes.panes.add((d.scope, d.period_us))
                for start in self.geometry.windows_of_pane(d.period_us):
                    self._window(d.scope, start)  # summed from the panes before this delta
            old = cells.get(d.item.variant_id)
            new = _plus(old, d.item)
            if new == old:
                continue
            cells[d.item.variant_id] = new
            changes.totals.append(TotalChange(d.scope, d.period_us, new, old))
            if d.period_us is None:
                touched[(d.scope, None)][new.variant_id] = new
            else:
                for start in self.geometry.windows_of_pane(d.period_us):
                    window = self.windows[(d.scope, start)]
                    summed = _plus(window.get(new.variant_id), d.item)
                    window[new.variant_id] = summed
                    touched[(d.scope, start)][new.variant_id] = summed
                    if ("window", d.scope, start) not in self.indexed:
                        changes.windows.add((d.scope, start))
        for (scope, start), items in touched.items():
            partition = self.all_time[scope] if start is None else self.windows[(scope, start)]
            window = Window() if start is None else window_of(self.geometry, start)
            for metric in Metric:
                key = (metric, scope, start)
                board = self._rank(key, partition, items.values())
                if board != self.boards.get(key):
                    self.boards[key] = board
                    changes.boards.append((metric, scope, window, board))
        if batch.max_event_us is not None and (self.max_event_us is None
                                               or batch.max_event_us > self.max_event_us):
            self.max_event_us = batch.max_event_us
        self.late_total += batch.late
        self.indexed.update(("pane", *k) for k in changes.panes)
        self.indexed.update(("window", *k) for k in changes.windows)
        self._forget_closed()
        return changes

    def _rank(self, key: Board, partition: dict[int, ItemTotal],
              changed: Iterable[ItemTotal]) -> list[Ranked]:
        metric = key[0]
        old = self.boards.get(key)
        if old is not None:
            merged = merge_top([r.item for r in old], changed, metric, self.top_n)
            if merged is not None:
                return merged
        return top(partition.values(), metric, self.top_n)

    def _window(self, scope: str, start: int) -> dict[int, ItemTotal]:
        """The window's totals (summed from its panes the first time it is needed)."""
        window = self.windows.get((scope, start))
        if window is None:
            window = {}
            for pane in self.geometry.panes_of_window(start):
                for item in self.panes.get((scope, pane), {}).values():
                    window[item.variant_id] = _plus(window.get(item.variant_id), item)
            self.windows[(scope, start)] = window
        return window

    def _forget_closed(self) -> None:
        """Drop panes and windows that no on-time event can change any more."""
        wm = self.watermark_us
        if wm is None:
            return
        first_open_pane = self.geometry.pane_of(wm)
        for key in [k for k in self.windows if k[1] + self.geometry.duration_us
                    <= first_open_pane]:
            del self.windows[key]
            for metric in Metric:
                self.boards.pop((metric, key[0], key[1]), None)
        horizon = first_open_pane - self.geometry.duration_us
        for key in [k for k in self.panes if k[1] < horizon]:
            del self.panes[key]
        self.indexed = {k for k in self.indexed if k[2] >= horizon}

    def pane_horizon_us(self) -> int | None:
        """Panes older than this are never read again (what :func:`restore` loads)."""
        wm = self.watermark_us
        return None if wm is None else self.geometry.pane_of(wm) - self.geometry.duration_us

    def state_rows(self) -> int:
        return (sum(len(v) for v in self.all_time.values())
                + sum(len(v) for v in self.panes.values()))

    # -- restore -----------------------------------------------------------------
    def load(self, scope: str, period_us: int | None, items: Iterable[ItemTotal]) -> None:
        cells = self.all_time[scope] if period_us is None else self.panes[(scope, period_us)]
        for item in items:
            cells[item.variant_id] = item


def window_of(geometry: Geometry, start_us: int) -> Window:
    return Window(from_micros(start_us), from_micros(start_us + geometry.duration_us))


def _plus(old: ItemTotal | None, delta: ItemTotal) -> ItemTotal:
    if old is None:
        return delta
    return ItemTotal(variant_id=old.variant_id, product_id=delta.product_id,
                     product_name=delta.product_name, material=delta.material,
                     quantity=old.quantity + delta.quantity,
                     revenue_usd=old.revenue_usd + delta.revenue_usd)


def committed_value(row: StoredTotal, last_committed: int | None) -> ItemTotal | None:
    """The row's value as of Spark's last committed batch (None: the row did not exist)."""
    if last_committed is None or row.batch_id > last_committed:
        return row.old
    return row.new


def restore(counter: Counter, rows: Iterator[StoredTotal], last_committed: int | None
            ) -> int:
    """Load stored totals into ``counter`` as of ``last_committed``; returns rows loaded."""
    loaded = 0
    for row in rows:
        value = committed_value(row, last_committed)
        if value is not None:
            counter.load(row.scope, row.period_us, [value])
            loaded += 1
    return loaded
