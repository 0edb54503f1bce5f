"""The ``foreachBatch`` writer: one micro-batch in Arrow -> counting -> one concurrent write.

Spark keeps the offsets (checkpointed); the driver keeps the ledger of counted order
facts (:class:`streaming.ledger.Ledger`, the dedupe) and the totals, window sums and
boards (:class:`streaming.counting.Counter`), rebuilt from Cassandra at start-up by
:func:`restore_ledger` and :func:`restore_counter`. Every write is an absolute value
with the batch id and the value it replaces, so a batch replayed after a crash
writes the same rows and counts once. Nothing is read from Cassandra per batch.

The deferred boards of open windows due at a refresh are written on a worker thread
while Spark runs the next batch; every later write (the next batch's, an idle flush,
the stop) first waits for them, so a board is never overwritten by an older one, and
their error fails that batch. If the process dies first, the restart re-publishes
every open window's boards (:func:`streaming.counting.restore`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from streaming import ledger as ledgers
from streaming import transforms
from streaming.counting import (
    Counter,
    batch_input,
    dead_letter,
    restore,
    uncommitted,
    window_of,
)
from streaming.ledger import Ledger
from streaming.session import CODEGEN_FROM_ROWS, use_codegen
from streaming.store import BatchWrite, BoardWrite, StoredChunk, StoredTotal, StreamState
from topproducts.countries import SCOPES
from topproducts.errors import TopProductsError
from topproducts.events import EventType
from topproducts.leaderboards.ranking import Geometry, to_micros

log = logging.getLogger(__name__)

# the facts that move the boards: each counted once per order (streaming.ledger)
COUNTED_KINDS = (EventType.ORDER_CONFIRMED.value, EventType.ORDER_CANCELLED.value)


class Store(Protocol):  # the part of LeaderboardStore the sink uses (a fake in unit tests)
    def write_batch(self, w: BatchWrite) -> None: ...
    def write_boards(self, boards: Sequence[BoardWrite], now: datetime) -> None: ...
    def stream_state(self, query: str) -> StreamState | None: ...
    def stored_totals(self, scopes: Sequence[str], pane_horizon_us: int | None
                      ) -> Iterator[StoredTotal]: ...
    def stored_chunks(self, event_types: Sequence[str]) -> Iterator[StoredChunk]: ...


@dataclass(frozen=True)
class BatchFacts:
    """What the progress listener reports beside Spark's figures."""

    late: int
    late_total: int
    watermark: datetime | None
    state_rows: int
    pending_boards: int  # boards waiting for the refresh or being written (0: all written)


def _release_arrow_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def recheck(df: Any, table: Any) -> Any:
    """``table`` with the rows the query's screen set aside (reason
    :data:`~streaming.transforms.RECHECK`: not in the producer's canonical form) replaced
    by their keyed rows judged by every rule (:func:`streaming.transforms.rechecked`),
    which Spark computes from just those rows. A batch without them costs nothing here."""
    import pyarrow as pa
    import pyarrow.compute as pc

    aside = pc.fill_null(pc.equal(table["reason"], transforms.RECHECK), False)
    if not pc.any(aside).as_py():
        return table
    use_codegen(df.sparkSession, False)  # every rule: generating their code costs more
    screened = df.sparkSession.createDataFrame(table.filter(aside).select(
        ["key", "value", "topic", "partition", "offset", "kafka_timestamp_us"]))
    judged = transforms.rechecked(screened).toArrow()
    return pa.concat_tables([table.filter(pc.invert(aside)),
                             judged.select(table.column_names).cast(table.schema)])


def restore_counter(store: Store, geometry: Geometry, top_n: int, query: str,
                    last_committed: int | None, refresh_seconds: float = 2.0) -> Counter:
    """The counter as of Spark's last committed batch (see :mod:`streaming.counting`)."""
    counter = Counter(geometry, top_n, refresh_us=int(refresh_seconds * 1_000_000))
    state = store.stream_state(query)
    if state is not None:
        replayed = uncommitted(state.batch_id, last_committed)
        counter.max_event_us = state.prev_max_event_us if replayed else state.max_event_us
        counter.late_total = state.prev_late_total if replayed else state.late_total
    restore(counter, store.stored_totals(SCOPES, counter.pane_horizon_us()), last_committed)
    return counter


def restore_ledger(store: Store, last_committed: int | None) -> Ledger:
    """The ledger of counted order facts as of Spark's last committed batch."""
    ledger = Ledger()
    ledgers.restore(ledger, store.stored_chunks(COUNTED_KINDS), last_committed)
    return ledger


class KeyspaceLost(TopProductsError):
    """The leaderboard keyspace (or a table of it) was dropped while the stream ran."""


def keyspace_lost(exc: BaseException, keyspace: str) -> KeyspaceLost | None:
    """The clear error for a Cassandra error that means the tables are gone, else None."""
    text = str(exc)
    if "unconfigured table" in text or (f"Keyspace {keyspace} does not exist" in text) or (
            "does not exist" in text and keyspace in text):
        return KeyspaceLost(
            f"the leaderboard keyspace {keyspace} was dropped while the stream ran; the stream "
            "stopped (its checkpoint no longer matches any tables). Recount everything with "
            "`topproducts rebuild --yes`, then `topproducts stream start`")
    return None


class LeaderboardSink:
    """``foreachBatch`` function of the stream's one query."""

    def __init__(self, store: Store, counter: Counter, query: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 ledger: Ledger | None = None) -> None:
        self.store, self.counter, self.query, self.clock = store, counter, query, clock
        self.ledger = ledger if ledger is not None else Ledger()
        self.facts: dict[int, BatchFacts] = {}  # read (and popped) by the progress listener
        self.counted = 0.0  # when the last batch's counting ended (for the log)
        self._lock = threading.Lock()  # batches and idle flushes come on different threads
        self.fatal: KeyspaceLost | None = None  # why the query must not go on
        self._writer = ThreadPoolExecutor(1, "deferred-boards")
        self._deferred: Future | None = None  # the last batch's deferred boards, writing
        self._rows = CODEGEN_FROM_ROWS  # the last batch's; a start is often a catch-up

    def __call__(self, df: Any, batch_id: int) -> None:
        started = time.monotonic()
        # generated code after a big batch (a backlog), interpreted when live (CODEGEN)
        use_codegen(df.sparkSession, self._rows >= CODEGEN_FROM_ROWS)
        table = recheck(df, df.toArrow())  # runs the micro-batch's Spark job(s)
        fetched = time.monotonic()
        rows = self._rows = table.num_rows
        with self._lock:
            try:
                counts = self.process(table, batch_id)
            except Exception as exc:
                lost = keyspace_lost(exc, getattr(self.store, "ks", ""))
                if lost is None:
                    raise
                self.fatal = lost
                log.error("%s", lost)
                raise lost from exc
        del table
        _release_arrow_memory()  # pyarrow's pool keeps a drained batch's memory otherwise
        log.info("batch %d: %d rows; spark %.3fs, count %.3fs, cassandra %.3fs; %s", batch_id,
                 rows, fetched - started, self.counted - fetched,
                 time.monotonic() - self.counted, counts)

    def process(self, table: Any, batch_id: int) -> dict[str, int]:
        """Count one batch (an Arrow table of keyed rows) and write what changed."""
        c = self.counter
        before = (c.max_event_us, c.late_total)
        table, counted = ledgers.admit_batch(self.ledger, table, COUNTED_KINDS)
        batch = batch_input(table, c.watermark_us, c.geometry)
        now = self.clock()
        changes = c.apply(batch, to_micros(now))
        self.counted = time.monotonic()
        self._settle()
        self.store.write_batch(BatchWrite(
            query=self.query, batch_id=batch_id, totals=changes.totals, boards=changes.boards,
            panes=changes.panes,
            windows=[(scope, window_of(c.geometry, start)) for scope, start in changes.windows],
            state=StreamState(self.query, batch_id, c.max_event_us, c.late_total, *before),
            dead_letters=[dead_letter(r, now) for r in batch.dead], now=now, counted=counted,
            late_facts=batch.late_facts))
        if changes.deferred:
            self._deferred = self._writer.submit(self.store.write_boards, changes.deferred, now)
        # Boards still being written count as pending: "0" (what readers wait for before
        # they compare boards) is reported only once they are in Cassandra, by the idle
        # flush, which waits for them first.
        self.facts[batch_id] = BatchFacts(batch.late, c.late_total, c.watermark,
                                          c.state_rows() + self.ledger.counted,
                                          len(c.pending) + len(changes.deferred))
        if len(self.facts) > 100:  # the listener normally pops them
            self.facts.pop(min(self.facts))
        if batch.dead:
            log.warning("batch %d: %d rejected, first: %s", batch_id, len(batch.dead),
                        batch.dead[0]["reason"])
        if batch.late_facts:
            log.warning("batch %d: %d facts came after windows they belong to were final "
                        "(recorded in late_facts), first: %s", batch_id, batch.late,
                        batch.late_facts[0])
        return {"events": batch.events, "late": batch.late, "dead": len(batch.dead),
                "totals": len(changes.totals), "boards": len(changes.boards),
                "deferred": len(changes.deferred), "pending": len(c.pending)}

    def _settle(self) -> None:
        """Wait for the deferred boards being written (raising their error, if any)."""
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            deferred.result()

    def close(self) -> None:
        """Finish writing deferred boards (when the query has stopped)."""
        with self._lock:
            try:
                self._settle()
            finally:
                self._writer.shutdown()

    def flush(self) -> int:
        """Write every pending board (called when the query is idle, about every second);
        returns how many. Also notices a dropped keyspace while idle (:attr:`fatal`)."""
        with self._lock:
            try:
                self._settle()
                if not self.counter.pending:
                    self.store.stream_state(self.query)  # are the tables still there?
                    return 0
                now = self.clock()
                boards = self.counter.flush(to_micros(now))
                self.store.write_boards(boards, now)
            except Exception as exc:
                lost = keyspace_lost(exc, getattr(self.store, "ks", ""))
                if lost is not None and self.fatal is None:
                    self.fatal = lost
                    log.error("%s", lost)
                raise
            log.info("idle: wrote %d deferred boards", len(boards))
            return len(boards)
