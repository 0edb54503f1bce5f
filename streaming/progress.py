"""A progress row per micro-batch, written by a StreamingQueryListener.

The Dagster sensor reads the ``stream_progress`` table: end offsets (for lag),
throughput, watermark, late rows, and ``updated_at`` (a heartbeat that idle
queries keep fresh, so "no new data" is not mistaken for "dead").
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

from pyspark.sql.streaming import StreamingQueryListener

from topproducts.leaderboards.store import Progress

log = logging.getLogger(__name__)


def _ts(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def parse_offsets_log(text: str) -> dict[str, dict[str, int]]:
    """The source offsets in a Spark offset-log file (``v1``, batch metadata, then one JSON
    line per source; ours is one Kafka source: ``{"topic": {"partition": offset}}``)."""
    lines = text.splitlines()
    if len(lines) < 3 or lines[0] != "v1":
        raise ValueError("not a Spark offset log entry")
    source = json.loads(lines[2])
    return {topic: {str(p): int(o) for p, o in parts.items()} for topic, parts in source.items()}


def committed(checkpoint: Path) -> tuple[int, dict[str, dict[str, int]]] | None:
    """The last batch a query's checkpoint committed, with its end offsets (None: no batch)."""
    try:
        batches = [int(f.name) for f in (checkpoint / "commits").iterdir() if f.name.isdigit()]
    except FileNotFoundError:
        return None
    if not batches:
        return None
    batch = max(batches)
    return batch, parse_offsets_log((checkpoint / "offsets" / str(batch)).read_text())


def sync_committed(store, checkpoints: Path, query: str, now: datetime) -> None:
    """At start-up, bring the query's progress row up to its checkpoint's last commit."""
    found = committed(checkpoints / query)
    if found is not None:
        batch, offsets = found
        store.sync_committed(query, batch, json.dumps(offsets, sort_keys=True), now)


def progress_row(p: dict[str, Any], late_total_before: int, now: datetime,
                 facts: Any = None) -> Progress:
    """A :class:`Progress` from a ``StreamingQueryProgress`` as JSON (``progress.json``).

    ``facts`` (a :class:`streaming.sink.BatchFacts`) are what the driver's counting
    knows and Spark does not: late facts, the watermark, the driver's state rows.
    """
    operators = p.get("stateOperators") or []
    late = sum(int(o.get("numRowsDroppedByWatermark") or 0) for o in operators)
    state_rows = sum(int(o.get("numRowsTotal") or 0) for o in operators)
    offsets: dict[str, dict[str, int]] = {}
    for source in p.get("sources") or []:
        end = source.get("endOffset")
        if isinstance(end, str):
            try:
                end = json.loads(end)
            except ValueError:
                end = None
        if isinstance(end, dict):
            for topic, parts in end.items():
                if isinstance(parts, dict):
                    offsets.setdefault(topic, {}).update({str(k): int(v)
                                                          for k, v in parts.items()})
    watermark = _ts((p.get("eventTime") or {}).get("watermark"))
    if watermark is not None and watermark.timestamp() == 0:
        watermark = None  # Spark's "no watermark yet"
    late_total = late_total_before + late
    pending = 0
    if facts is not None:
        late, late_total, watermark = facts.late, facts.late_total, facts.watermark
        state_rows += facts.state_rows
        pending = facts.pending_boards
    return Progress(
        query=p.get("name") or p.get("id") or "?",
        run_id=str(p.get("runId") or ""),
        batch_id=int(p.get("batchId", -1)),
        end_offsets=json.dumps(offsets, sort_keys=True),
        input_rows=int(p.get("numInputRows") or 0),
        input_rows_per_second=float(p.get("inputRowsPerSecond") or 0.0),
        processed_rows_per_second=float(p.get("processedRowsPerSecond") or 0.0),
        batch_duration_ms=int(p.get("batchDuration") or 0),
        watermark=watermark,
        late_rows_dropped=late,
        late_rows_dropped_total=late_total,
        state_rows=state_rows,
        pending_boards=pending,
        batch_at=_ts(p.get("timestamp")) or now,
        updated_at=now,
    )


class ProgressListener(StreamingQueryListener):
    """Writes progress rows; never raises (a failed write is logged, the stream goes on)."""

    def __init__(self, store, query: str, late_total: int = 0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 facts: dict[int, Any] | None = None,
                 on_idle: Callable[[], int] | None = None) -> None:
        self.store = store
        self.query = query  # the job's one query; progress of another is not recorded
        self.late_total = late_total
        self.facts = facts if facts is not None else {}  # batch id -> the sink's BatchFacts
        self.on_idle = on_idle  # writes the deferred boards
        self.clock = clock
        self.recorded = -1  # the last batch whose progress was handled (written, or failed)
        self._handled = threading.Condition()

    def wait_recorded(self, batch_id: int, timeout: float) -> bool:
        """Wait until the progress of ``batch_id`` (or a later batch) has been handled;
        False after ``timeout`` seconds. Spark posts progress events on its listener bus
        after the batch ends, so one can arrive after the query has stopped: a rebuild's
        last word on the progress row must come after it, or the row's
        ``pending_boards`` of that batch would overwrite the final "none pending"."""
        with self._handled:
            return self._handled.wait_for(lambda: self.recorded >= batch_id, timeout)

    def _handled_batch(self, batch_id: int) -> None:
        with self._handled:
            self.recorded = max(self.recorded, batch_id)
            self._handled.notify_all()

    @property
    def _jlistener(self) -> Any:
        """The JVM side of this listener (what ``spark.streams.addListener`` registers).

        PySpark's own wrapper turns every event into a full Python copy of the Java
        progress, field by field through py4j; a profile of the driver JVM at 20
        orders/s put 15% of its CPU in those calls. :class:`_LeanEvents` reads only
        what this listener uses: the progress as JSON, the ids, the exception.
        """
        if not hasattr(self, "_jlistenerobj"):
            from pyspark import SparkContext

            jvm = SparkContext._jvm
            assert jvm is not None  # the session that registers the listener runs
            self._jlistenerobj = jvm.PythonStreamingQueryListenerWrapper(_LeanEvents(self))
        return self._jlistenerobj

    def onQueryStarted(self, event) -> None:
        log.info("query %s started (run %s)", event.name, event.runId)

    def onQueryProgress(self, event) -> None:
        try:
            raw = json.loads(event.progress.json)
            name = raw.get("name") or str(raw.get("id"))
            if name != self.query:
                return
            batch = int(raw.get("batchId", -1))
        except Exception:  # a listener must never take the stream down
            log.exception("could not read a progress event")
            return
        try:
            batch_facts = self.facts.pop(batch, None)
            row = progress_row(raw, self.late_total, self.clock(), batch_facts)
            self.late_total = row.late_rows_dropped_total
            self.store.write_progress(row)
            if row.input_rows or row.late_rows_dropped:
                phases = ", ".join(f"{k} {v}" for k, v in (raw.get("durationMs") or {}).items()
                                   if k != "triggerExecution" and v)
                log.info("progress %s batch %d: %d rows in %d ms (%.0f rows/s; %s ms), "
                         "watermark %s, late %d, state rows %d", name, row.batch_id,
                         row.input_rows, row.batch_duration_ms, row.processed_rows_per_second,
                         phases, row.watermark, row.late_rows_dropped, row.state_rows)
        except Exception:  # a listener must never take the stream down
            log.exception("could not record progress")
        finally:
            self._handled_batch(batch)

    def onQueryIdle(self, event) -> None:
        try:
            if self.on_idle is not None:
                self.on_idle()  # the boards deferred while busy: written before "caught up"
            self.store.heartbeat(self.query, self.clock())
        except Exception:
            log.exception("could not record heartbeat")

    def onQueryTerminated(self, event) -> None:
        if event.exception:
            log.error("query %s failed: %s", self.query, event.exception.splitlines()[0])
        else:
            log.info("query %s stopped", self.query)


class _LeanEvents:
    """Implements Spark's Java listener interface through py4j with one call per field used.

    The events it passes on have the attributes of PySpark's that
    :class:`ProgressListener` reads (``id``, ``runId``, ``name``, ``progress.json``,
    ``exception``).
    """

    def __init__(self, listener: ProgressListener) -> None:
        self.listener = listener

    def onQueryStarted(self, jevent) -> None:
        self.listener.onQueryStarted(SimpleNamespace(
            id=jevent.id().toString(), runId=jevent.runId().toString(), name=jevent.name()))

    def onQueryProgress(self, jevent) -> None:
        self.listener.onQueryProgress(SimpleNamespace(
            progress=SimpleNamespace(json=jevent.progress().json())))

    def onQueryIdle(self, jevent) -> None:
        self.listener.onQueryIdle(SimpleNamespace(id=jevent.id().toString()))

    def onQueryTerminated(self, jevent) -> None:
        jexception = jevent.exception()
        self.listener.onQueryTerminated(SimpleNamespace(
            id=jevent.id().toString(),
            exception=jexception.get() if jexception.isDefined() else None))

    class Java:
        implements: ClassVar[list[str]] = [
            "org.apache.spark.sql.streaming.PythonStreamingQueryListener"]
