"""Health of the streaming job, from its progress rows and Kafka's end offsets.

:func:`assess` is pure (unit tested); :func:`snapshot` gathers its inputs from
the real services quickly (a Dagster sensor has about a minute in all).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from confluent_kafka import TopicPartition

from topproducts import kafka_io
from topproducts import stream_control as stream_process
from topproducts.events import Topic
from topproducts.leaderboards.store import STREAM_QUERY, Progress, open_store
from topproducts.settings import Settings

Offsets = dict[str, dict[int, int]]  # topic -> partition -> next offset


class State(StrEnum):
    NOT_STARTED = "not_started"  # no process, never made progress
    HEALTHY = "healthy"  # running and keeping up
    IDLE = "idle"  # running, nothing to read
    STALLED = "stalled"  # running, input waiting, no batch for too long
    DEAD = "dead"  # made progress before, process gone


@dataclass(frozen=True)
class Health:
    state: State
    reason: str
    pid: int | None
    lag: int  # events in Kafka the stream has not processed
    last_batch_at: datetime | None = None
    input_rows_per_second: float = 0.0
    processed_rows_per_second: float = 0.0
    late_rows_dropped: int = 0  # late facts: came after some of their windows were final

    @property
    def needs_restart(self) -> bool:
        return self.state in (State.DEAD, State.STALLED)


def lag(end: Offsets, consumed: Offsets) -> int:
    """Events between what a query consumed and the end of each partition it reads."""
    total = 0
    for topic, partitions in end.items():
        for partition, last in partitions.items():
            total += max(0, last - consumed.get(topic, {}).get(partition, 0))
    return total


def assess(
    pid: int | None, row: Progress | None, end: Offsets, now: datetime,
    stall_after: timedelta, started_at: datetime | None = None,
) -> Health:
    """Decide the stream's state from its pid, its progress row (None: it never made a
    batch) and Kafka's end offsets.

    Stalled means: input waits and there was no batch for ``stall_after``, counted from
    the last batch or from the process's start, whichever is later (a freshly restarted
    stream is not stalled because its predecessor's last batch is old).
    """
    total_lag = lag(end, row.offsets() if row else {})
    last_batch = row.batch_at if row else None

    def health(state: State, reason: str) -> Health:
        return Health(state, reason, pid=pid, lag=total_lag, last_batch_at=last_batch,
                      input_rows_per_second=row.input_rows_per_second if row else 0.0,
                      processed_rows_per_second=row.processed_rows_per_second if row else 0.0,
                      late_rows_dropped=row.late_rows_dropped_total if row else 0)

    if pid is None:
        if row is None:
            return health(State.NOT_STARTED, "the stream has never run")
        return health(State.DEAD, f"no stream process; {total_lag} events wait")
    if row is None:
        return health(State.HEALTHY, "starting: no batch yet")
    pending = row.pending_boards
    if total_lag == 0 and pending == 0:
        return health(State.IDLE, "running, caught up with Kafka")
    if total_lag == 0:
        return health(State.HEALTHY, f"running, caught up; {pending} deferred boards to "
                      "write")
    since = max((t for t in (last_batch, started_at) if t is not None), default=None)
    quiet_for = now - since if since else None
    if quiet_for is not None and quiet_for > stall_after:
        return health(State.STALLED, f"no batch for {quiet_for.total_seconds():.0f}s "
                      f"while {total_lag} events wait")
    return health(State.HEALTHY, f"running, {total_lag} events to go")


def end_offsets(settings: Settings, topics: list[str], timeout: float = 5.0) -> Offsets:
    """The next offset to be written in every partition of ``topics`` (high watermarks)."""
    consumer = kafka_io.consumer("topproducts-monitor", settings)
    try:
        result: Offsets = {}
        metadata = consumer.list_topics(timeout=timeout)
        for topic in topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                continue
            result[topic] = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
                for p in info.partitions
            }
        return result
    finally:
        consumer.close()


def snapshot(settings: Settings, now: datetime) -> tuple[Health, list[Progress]]:
    """Read pid, progress rows and end offsets, then :func:`assess` them."""
    with open_store(settings) as store:
        progress = store.progress()
    end = end_offsets(settings, [settings.topic(Topic.ORDERS)])
    return health_of(settings, progress, end, now), progress


def health_of(settings: Settings, progress: list[Progress], end: Offsets, now: datetime
              ) -> Health:
    """:func:`assess` the stream's progress row (among the rows read by the caller: those of
    other queries, left by an older layout, are not the stream's) and the end offsets,
    with the stream's pid and when it started (its pid file is written at the start)."""
    pid = stream_process.running_pid(settings)
    started_at = None
    if pid is not None:
        with contextlib.suppress(OSError):
            started_at = datetime.fromtimestamp(
                stream_process.pid_file(settings).stat().st_mtime, UTC)
    row = next((p for p in progress if p.query == STREAM_QUERY), None)
    return assess(pid, row, end, now, timedelta(seconds=settings.stream_stall_seconds),
                  started_at)
