"""The windowing rule: what a sliding window counts, as pure functions shared by the stream,
``topproducts reconcile``, the Dagster checks and the tests' model.

**The rule** (event time, exact in SQL over MySQL): an order line counts in window ``W`` when
its order was confirmed in ``[W.start, W.end)`` and not cancelled before ``W.end``::

    o.confirmed_at >= :start AND o.confirmed_at < :end
    AND (o.cancelled_at IS NULL OR o.cancelled_at >= :end)

A window shows the shop as it was at the window's end: the lines confirmed during it, less
those cancelled by then, whenever the cancellation came (a second or a day after the
confirmation). A cancellation therefore retracts its lines from every window that contains
the confirmation and ends after the cancellation; windows that ended before it keep them.

**Final.** A window is final at ``W.end + lateness`` (``TOPPRODUCTS_WATERMARK``): the stream
accepts a fact up to the lateness after its own time (a confirmation's ``confirmed_at``, a
cancellation's ``occurred_at``, which is the order's ``cancelled_at``), for confirmations and
cancellations alike. A fact that reaches the stream after a window it belongs to is final
(a stalled relay, a lagging partition) is *late by processing*: it still counts all-time
and in the windows that are open, and the stream records it with the windows it missed
(:class:`LateFact`); reconcile and the checks explain differences by those records.

**How it is counted: slices.** Every fact moves the windows that end in a run of
window ends: a confirmation in pane ``p`` (a pane is one slide of event time) the windows
ending ``p + slide .. p + duration``; its cancellation in pane ``q`` those ending
``q + slide .. p + duration``. So a fact is one signed addition to the *slice*
``(p, from_end)`` (``from_end``: the first window end it reaches), and a window ending at
``e`` is the sum of the slices of its panes with ``from_end <= e``. A confirmation's slice
is its whole pane (``from_end = p + slide``), as before cancellations could come late.

The daily boards use the same shape with a grace: a day counts a line confirmed during it and
not cancelled before the day's end + 1 day (:mod:`topproducts.leaderboards.daily`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from topproducts.leaderboards.ranking import Geometry, N

# The rule over MySQL, for one period [start, end) counted with cancellations before
# ``cutoff`` (a window: cutoff = end; a day: its end + 1 day). Parameters: start, end, cutoff.
COUNTED_SQL = ("o.confirmed_at >= %s AND o.confirmed_at < %s "
               "AND (o.cancelled_at IS NULL OR o.cancelled_at >= %s)")


def counts_in(confirmed_us: int, cancelled_us: int | None, start_us: int, end_us: int) -> bool:
    """The rule, literally: does a line count in the window ``[start, end)``?"""
    return start_us <= confirmed_us < end_us and (cancelled_us is None
                                                  or cancelled_us >= end_us)


def first_end(g: Geometry, at_us: N) -> N:
    """The first window end after the moment ``at_us``: the windows a fact of that moment
    reaches end here or later (numpy arrays too: ``%`` floors alike)."""
    return at_us - at_us % g.slide_us + g.slide_us


def last_end(g: Geometry, pane_us: N) -> N:
    """The last window end that contains the pane: no slice of the pane reaches beyond."""
    return pane_us + g.duration_us


def open_from(g: Geometry, watermark_us: int | None) -> int | None:
    """The first window end still open at a watermark (the largest event time seen minus
    the lateness): a window ending at ``e`` is final once ``watermark >= e``."""
    return None if watermark_us is None else first_end(g, watermark_us)


def is_final(g: Geometry, end_us: int, watermark_us: int | None) -> bool:
    """Whether the window ending at ``end_us`` is final at the watermark."""
    return watermark_us is not None and end_us <= watermark_us


def window_starts(g: Geometry, pane_us: int, from_end_us: int) -> range:
    """Starts of the windows a slice adds to: those containing the pane that end at or after
    ``from_end_us`` (empty when it reaches beyond the pane's last window)."""
    first = max(pane_us - g.duration_us + g.slide_us, from_end_us - g.duration_us)
    return range(first, pane_us + 1, g.slide_us)


def slice_ends(g: Geometry, pane_us: int, upto_end_us: int) -> range:
    """The ``from_end`` values of a pane's slices that count in the window ending at
    ``upto_end_us``."""
    return range(pane_us + g.slide_us, upto_end_us + 1, g.slide_us)


Slice = tuple[int, int]  # (pane start, first window end), µs


def line_slices(g: Geometry, confirmed_us: int, cancelled_us: int | None
                ) -> list[tuple[Slice, int]]:
    """A line's signed slices by the rule: +1 at its confirmation's pane, and -1 from the
    first window ending after its cancellation. That slice may reach beyond the pane's last
    window (every window containing the line ended before the cancellation): it then adds
    to no window, only to the pane's net total (what the daily boards count)."""
    pane = g.pane_of(confirmed_us)
    out = [((pane, pane + g.slide_us), 1)]
    if cancelled_us is not None:
        out.append(((pane, max(first_end(g, cancelled_us), pane + g.slide_us)), -1))
    return out


@dataclass(frozen=True)
class LateFact:
    """A fact that reached the stream after some of its windows were final.

    ``missed_from .. missed_to``: the ends of the windows the rule puts it in but that were
    final when it came (their boards do not have it); ``counted_from``: the first window end
    it still counts in (None: no window). ``watermark``: the stream's watermark when it came
    (:attr:`behind`: how long the first missed window had been final).
    """

    order_id: int
    event_type: str
    country: str
    confirmed_at: datetime
    occurred_at: datetime
    watermark: datetime
    missed_from: datetime
    missed_to: datetime
    counted_from: datetime | None

    @property
    def sign(self) -> int:
        return 1 if self.event_type == "order_confirmed" else -1

    @property
    def behind(self) -> timedelta:
        return self.watermark - self.missed_from

    def windows_missed(self, g: Geometry) -> int:
        return (self.missed_to - self.missed_from) // timedelta(microseconds=g.slide_us) + 1

    def __str__(self) -> str:
        counted = (f"counted from the window ending {self.counted_from:%H:%M:%S}"
                   if self.counted_from else "in no window")
        return (f"order {self.order_id} {self.event_type} ({self.country}, confirmed "
                f"{self.confirmed_at:%Y-%m-%d %H:%M:%S}, at {self.occurred_at:%H:%M:%S}) came "
                f"{self.behind} after its window ending {self.missed_from:%H:%M:%S} was final: "
                f"missed the windows ending {self.missed_from:%H:%M:%S} to "
                f"{self.missed_to:%H:%M:%S}, {counted}")


# -- the rule over MySQL's lines, as the stream's ledger holds it ----------------------------

SliceKey = tuple[str, int, int, int]  # (scope, variant_id, pane, from_end)


def add(acc: dict[Any, list[int]], key: Any, quantity: int, cents: int) -> None:
    cell = acc.get(key)
    if cell is None:
        acc[key] = [quantity, cents]
    else:
        cell[0] += quantity
        cell[1] += cents


def window_totals(g: Geometry, slices: Mapping[SliceKey, Iterable[int]], first_start_us: int
                  ) -> dict[tuple[str, int, int], tuple[int, int]]:
    """Sliding-window totals (scope, window start, variant) -> (quantity, cents) from slice
    totals, for every window starting at or after ``first_start_us``."""
    out: dict[tuple[str, int, int], list[int]] = {}
    for (scope, variant, pane, from_end), (q, c) in slices.items():
        for start in window_starts(g, pane, from_end):
            if start >= first_start_us:
                add(out, (scope, start, variant), q, c)
    return {k: (v[0], v[1]) for k, v in out.items()}
