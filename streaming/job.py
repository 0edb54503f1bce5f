"""The streaming job: ``python -m streaming.job``.

One query, ``leaderboards``, with its checkpoint under ``settings.checkpoint_dir``:
Kafka -> parse once (the canonical fast path; the driver has Spark check the rest by every
rule) -> keyed rows
-> ``foreachBatch``: the driver drops facts it counted before (its ledger, in
Cassandra), counts all-time and per pane, ranks, and writes totals, boards, the
ledger and dead letters to Cassandra (:mod:`streaming.sink`). The Spark query is
stateless: no shuffle, no state store.

SIGTERM or SIGINT stops the query and exits 0. If the query fails, the process
exits 1 (the Dagster sensor restarts it; the checkpoint and the stored totals make
the restart exact).

``python -m streaming.job --rebuild`` is the batch run of the same query
(``topproducts rebuild``): the ``availableNow`` trigger reads what Kafka holds when it
starts, in micro-batches of ``maxOffsetsPerTrigger``, writes the deferred boards and
exits 0. Its checkpoint and tables are the stream's, so the stream started next
continues exactly where the rebuild ended.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from streaming import transforms as t
from streaming.progress import ProgressListener, committed, sync_committed
from streaming.session import stream_session
from streaming.sink import LeaderboardSink, restore_counter, restore_ledger
from streaming.store import StreamStore
from topproducts import kafka_io
from topproducts.errors import TopProductsError
from topproducts.events import Topic
from topproducts.leaderboards.ranking import Geometry
from topproducts.leaderboards.schema import ensure_schema, outdated, windows_before_the_rule
from topproducts.leaderboards.store import STREAM_QUERY
from topproducts.settings import Settings, get_settings

log = logging.getLogger("streaming.job")

QUERY = STREAM_QUERY
OLD_QUERIES = ("leaderboard_all", "leaderboard_windows", "dead_letters")  # before panes
RESET = ("run `topproducts rebuild --yes` (with the stream stopped): it counts every event "
         "again from the earliest Kafka offset, then `topproducts stream start` goes on")


class OutdatedState(TopProductsError):
    """Checkpoints or tables of an older layout, or one without the other."""


def geometry(settings: Settings) -> Geometry:
    return Geometry.configured(settings)


def kafka_source(spark: SparkSession, settings: Settings) -> DataFrame:
    security = {f"kafka.{k}": v for k, v in kafka_io.java_client_options(settings).items()}
    return (spark.readStream.format("kafka").options(**security)
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
            .option("subscribe", settings.topic(Topic.ORDERS.value))
            .option("startingOffsets", "earliest")
            .option("maxOffsetsPerTrigger", str(settings.stream_max_offsets_per_trigger))
            .option("maxRecordsPerPartition", str(settings.stream_max_records_per_task))
            # A task's consumer seeks, then waits for its previous (prefetch) fetch to
            # return: by default up to 500 ms when no new data has arrived since. Measured:
            # ~400 ms of every micro-batch spent waiting on it. The broker answers sooner.
            .option("kafka.fetch.max.wait.ms", str(settings.stream_fetch_max_wait_ms))
            # Retention may delete unread data while the job is down: log and go on.
            .option("failOnDataLoss", "false")
            .load())


def start_query(raw: DataFrame, settings: Settings, sink: LeaderboardSink,
                available_now: bool = False) -> StreamingQuery:
    """Wire the transforms between ``raw`` (Kafka-shaped rows) and the sink.

    ``available_now``: process what is available at the start, then stop (the rebuild).
    """
    rows = t.keyed_rows(t.screen(raw, Topic.ORDERS))  # the sink rechecks the rest
    writer = rows.writeStream.queryName(QUERY).outputMode("append")
    writer = (writer.trigger(availableNow=True) if available_now else
              writer.trigger(processingTime=f"{settings.stream_trigger_seconds} seconds"))
    return (writer.option("checkpointLocation", str(settings.checkpoint_dir / QUERY))
            .foreachBatch(sink).start())


def check_layout(settings: Settings, session) -> None:
    """Refuse to start on state of an older layout, or on a checkpoint whose tables are gone."""
    old = [q for q in OLD_QUERIES if (settings.checkpoint_dir / q).exists()]
    if old:
        raise OutdatedState(f"checkpoints of an older layout ({', '.join(old)}) in "
                            f"{settings.checkpoint_dir}; {RESET}")
    if (settings.checkpoint_dir / QUERY / "state").exists():
        raise OutdatedState(
            f"the checkpoint in {settings.checkpoint_dir} is of an older layout (Spark kept "
            "which orders were counted; the driver keeps it now, in Cassandra's "
            f"counted_orders); {RESET}")
    why = outdated(session, settings)
    if why:
        raise OutdatedState(f"{why}; {RESET}")


def last_committed(settings: Settings) -> int | None:
    found = committed(settings.checkpoint_dir / QUERY)
    return None if found is None else found[0]


def tune_gc() -> None:
    """Collect cycles rarely: the driver allocates tens of thousands of small tuples per
    batch and keeps millions of long-lived ones (the totals), and with CPython's default
    thresholds (700, 10, 10) the collector walks them over and over: ~30-40% of the
    counting's CPU (``bench/bench_counting.py`` prints both). The counting makes no
    cycles; what it drops is freed by reference counting."""
    gc.collect()
    gc.freeze()  # what start-up loaded (the restored totals) is never scanned again
    gc.set_threshold(*GC_THRESHOLDS)


GC_THRESHOLDS = (200_000, 20, 100)


def run(settings: Settings, stop: threading.Event, rebuild: bool = False) -> int:
    """Run until ``stop`` is set (0) or the query fails (1); with ``rebuild``, until what
    Kafka held at the start is counted and every board written (0)."""
    kafka_io.ensure_topics(settings, [settings.topic(Topic.ORDERS.value)])
    settings.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    with StreamStore.opened(settings, create=False) as store:
        before_the_rule = windows_before_the_rule(store.session, settings)
        ensure_schema(store.session, settings)
        if before_the_rule:
            log.warning("%s", before_the_rule)
        check_layout(settings, store.session)
        committed_batch = last_committed(settings)
        if committed_batch is not None and store.stream_state(QUERY) is None:
            raise OutdatedState(
                f"the checkpoint in {settings.checkpoint_dir} has committed batches but "
                f"keyspace {settings.cassandra_keyspace} has no stream state (was it dropped?); "
                f"{RESET}")
        sync_committed(store, settings.checkpoint_dir, QUERY, datetime.now(UTC))
        counter = restore_counter(store, geometry(settings), settings.top_n, QUERY,
                                  committed_batch, settings.stream_board_refresh_seconds)
        log.info("restored %d totals as of batch %s (watermark %s)", counter.state_rows(),
                 committed_batch, counter.watermark)
        ledger = restore_ledger(store, committed_batch)
        log.info("restored the ledger: %d counted order facts", ledger.counted)
        tune_gc()
        sink = LeaderboardSink(store, counter, QUERY, ledger=ledger)
        late_total = next((p.late_rows_dropped_total for p in store.progress()
                           if p.query == QUERY), 0)
        spark = stream_session(settings)
        listener = ProgressListener(store, QUERY, late_total, facts=sink.facts,
                                    on_idle=sink.flush)
        spark.streams.addListener(listener)
        query = start_query(kafka_source(spark, settings), settings, sink, available_now=rebuild)
        log.info("%s started: topic %s -> keyspace %s, checkpoint %s, trigger %s",
                 "rebuild" if rebuild else "stream", settings.topic(Topic.ORDERS.value),
                 settings.cassandra_keyspace, settings.checkpoint_dir,
                 "available now" if rebuild else f"{settings.stream_trigger_seconds}s")
        code = 0
        while not stop.wait(0.5):
            if sink.fatal is not None:  # noticed while idle: stop rather than run blind
                log.error("%s", sink.fatal)
                code = 2
                break
            if not query.isActive:
                error = query.exception()
                if rebuild and error is None:
                    last = _last_batch(query)
                    if isinstance(last, int) and not listener.wait_recorded(last, 30.0):
                        log.warning("the progress of batch %s was not recorded in 30 s", last)
                    boards = sink.flush()
                    store.heartbeat(QUERY, datetime.now(UTC))  # no deferred board left
                    log.info("rebuild done: batch %s, %d deferred boards written",
                             _last_batch(query), boards)
                    break
                if sink.fatal is not None:
                    log.error("%s", sink.fatal)
                    code = 2
                    break
                log.error("query %s stopped: %s", query.name,
                          str(error).splitlines()[0] if error else "no error")
                code = 1
                break
        if query.isActive:
            log.info("stopping %s (last batch %s)", query.name,
                     _last_batch(query))
            query.stop()
        try:
            sink.close()
        except Exception as exc:  # the restart re-publishes the open windows' boards
            log.error("deferred boards not written: %s", exc)
            code = code or 1
        spark.streams.removeListener(listener)
        spark.stop()
        log.info("stream stopped")
        return code


def _last_batch(query: StreamingQuery) -> object:
    """The id of the query's last batch (None before the first)."""
    progress = query.lastProgress
    return progress.get("batchId") if progress else None


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "cassandra"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("received %s: stopping queries", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sys.exit(run(get_settings(), stop, rebuild="--rebuild" in sys.argv[1:]))
    except TopProductsError as exc:
        log.error("%s", exc)
        sys.exit(2)


if __name__ == "__main__":
    main()
