"""Leaderboards written as the stream's sink writes them, for tests of what reads them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from streaming.store import BatchWrite, StreamState, StreamStore, TotalChange
from topproducts.leaderboards import Granularity, ItemTotal, Metric, rank
from topproducts.leaderboards.ranking import roll_up, to_micros
from topproducts.leaderboards.store import Window


def write_leaderboard(store: StreamStore, scope: str, window: Window,
                      variants: Iterable[ItemTotal], top_n: int, now: datetime,
                      batch_id: int = 0) -> None:
    """Write the variant totals of one (scope, window) and its boards at every granularity
    (both metrics), as the stream's sink does: one batch. A window's totals go into its
    first pane (a window is the sum of its panes)."""
    variants = list(variants)
    assert all(v.granularity is Granularity.VARIANT for v in variants), "the ledger is variants"
    pane = None if window.start is None else to_micros(window.start)
    assert store.geometry is not None, "open the store with the window geometry"
    whole_pane = None if pane is None else (pane, pane + store.geometry.slide_us)
    store.write_batch(BatchWrite(
        query="test", batch_id=batch_id,
        totals=[TotalChange.of(scope, whole_pane, v) for v in variants],
        boards=[(m, by, scope, window, rank(roll_up(variants, by), m, top_n))
                for by in Granularity for m in Metric],
        panes=[] if pane is None else [(scope, pane)],
        windows=[] if window.start is None else [(scope, window)],
        state=StreamState("test", batch_id, None, 0, None, 0), dead_letters=[], now=now))
