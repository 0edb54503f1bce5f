"""Rebuild every leaderboard from the event history: ``topproducts rebuild``.

The ground truth the rebuild reads is Kafka's ``shop.orders`` from the earliest
offset, not the MySQL ledger: the events are what the stream counts, so the rebuild
runs the stream's own query and transforms (parse, the driver's dedupe and counting)
with Spark's ``availableNow`` trigger, a batch run over what the topic holds when it
starts, and leaves the stream's checkpoint and tables behind. The stream started
next continues exactly where the rebuild ended; a batch job that read the topic with
``spark.read`` could not hand its offsets to the stream. The shop
topics are kept forever (``retention.ms=-1``) so that the history is all there; the
reconciliation checks the result against MySQL.

Steps: refuse while the stream runs; drop the keyspace and the checkpoint (what
``stream reset`` does); run ``python -m streaming.job --rebuild`` in the background
under the stream's pid file (so the Dagster sensor starts no second job), reporting
progress from its progress rows; check that it ended at the offsets it was given.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from topproducts import kafka_io, monitor
from topproducts import stream_control as process
from topproducts.errors import TopProductsError
from topproducts.events import Topic
from topproducts.leaderboards.schema import drop_keyspace
from topproducts.leaderboards.store import STREAM_QUERY, LeaderboardStore, open_store
from topproducts.settings import Settings
from topproducts.stack import process as processes


@dataclass(frozen=True)
class Rebuilt:
    events: int  # Kafka messages read (every event type, and rejected ones)
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def has_state(settings: Settings) -> bool:
    """Whether there is anything to drop (a checkpoint, or stream state in Cassandra)."""
    if (settings.checkpoint_dir / STREAM_QUERY).exists():
        return True
    with open_store(settings) as store:
        return bool(store.progress())


def rebuild(settings: Settings, on_progress: Callable[[int, int], None] | None = None,
            poll_seconds: float = 1.0, timeout: float = 3600.0,
            store: LeaderboardStore | None = None) -> Rebuilt:
    """Drop the leaderboards and count every event again; ``on_progress(done, total)``.
    Drops and watches through ``store``'s session (a Dagster run's), else its own."""
    if store is None:
        with open_store(settings, create=False) as own:
            return rebuild(settings, on_progress, poll_seconds, timeout, own)
    if process.running_pid(settings) is not None:
        raise TopProductsError("stop the stream first: topproducts stream stop")
    topic = settings.topic(Topic.ORDERS.value)
    kafka_io.ensure_topics(settings, [topic])
    target = monitor.end_offsets(settings, [topic])
    total = sum(target.get(topic, {}).values())
    drop_keyspace(store.session, settings)
    shutil.rmtree(settings.checkpoint_dir, ignore_errors=True)
    started = time.monotonic()
    pid = process.start(settings, rebuild=True)  # the job creates the tables again
    while process.running_pid(settings) == pid:
        if on_progress:
            on_progress(_consumed(store, topic), total)
        if time.monotonic() - started > timeout:
            process.stop(settings)
            raise TopProductsError(f"the rebuild took more than {timeout:.0f}s; stopped")
        time.sleep(poll_seconds)
    seconds = time.monotonic() - started
    row = next((p for p in store.progress() if p.query == STREAM_QUERY), None)
    consumed = row.offsets().get(topic, {}) if row else {}
    ended = {p: consumed.get(p, 0) for p in target.get(topic, {})}
    if ended != target.get(topic, {}) or (row is not None and row.pending_boards):
        raise TopProductsError(
            f"the rebuild stopped at {sum(ended.values())} of {total} events; see "
            f"{process.log_file(settings)}:\n" + processes.tail(process.log_file(settings), 5))
    if on_progress:
        on_progress(total, total)
    return Rebuilt(total, seconds)


def _consumed(store: LeaderboardStore, topic: str) -> int:
    try:
        row = next((p for p in store.progress() if p.query == STREAM_QUERY), None)
    except Exception:  # the job is (re)creating the tables
        return 0
    return sum(row.offsets().get(topic, {}).values()) if row else 0
