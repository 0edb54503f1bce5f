"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streaming import process
from topproducts import cassandra_io
from topproducts.leaderboards.schema import drop_keyspace
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
    session = cassandra_io.connect(settings)
    try:
        drop_keyspace(session, settings)
    finally:
        session.cluster.shutdown()
