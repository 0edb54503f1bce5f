"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streaming import process
from topproducts.leaderboards.schema import drop_leaderboards
from topproducts.settings import Settings
from topproducts.shop import sandbox


@pytest.fixture
def stream_shop(running_stack: Settings, unique: str, tmp_path) -> Iterator[Settings]:
    """An isolated shop (databases, topics), keyspace and state folder for the stream;
    the stream is stopped and everything dropped afterwards."""
    settings = sandbox.sandbox(running_stack, unique).replace(
        cassandra_keyspace=unique, state_dir=tmp_path, stream_trigger_seconds=1.0)
    try:
        yield settings
    finally:
        stop_stream_and_drop_keyspace(settings)
        sandbox.drop(settings)


def stop_stream_and_drop_keyspace(settings: Settings) -> None:
    """Teardown of a test's stream: stop the job, drop its leaderboard keyspace."""
    process.stop(settings, timeout=60)
    drop_leaderboards(settings)


def write_leaderboard(store, scope: str, window, items, top_n: int, now) -> None:
    """Write totals and boards of one (scope, window) as the stream's sink does: one batch;
    a window's totals go into its first pane (a window is the sum of its panes)."""
    from topproducts.leaderboards import Metric, rank
    from topproducts.leaderboards.ranking import to_micros
    from topproducts.leaderboards.store import BatchWrite, StreamState, TotalChange

    items = list(items)
    pane = None if window.start is None else to_micros(window.start)
    store.write_batch(BatchWrite(
        query="test", batch_id=0, totals=[TotalChange(scope, pane, i, None) for i in items],
        boards=[(m, scope, window, rank(items, m, top_n)) for m in Metric],
        panes=[] if pane is None else [(scope, pane)],
        windows=[] if window.start is None else [(scope, window)],
        state=StreamState("test", 0, None, 0, None, 0), dead_letters=[], now=now))
