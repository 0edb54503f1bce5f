"""The streaming job: ``python -m streaming.job``.

Three queries in one SparkSession, each with its own checkpoint under
``settings.checkpoint_dir``:

- ``leaderboard_all``: all-time totals (no watermark: late events still count);
- ``leaderboard_windows``: sliding-window totals, late events dropped and counted;
- ``dead_letters``: rejected messages, with their reason, kept in Cassandra.

SIGTERM or SIGINT stops the queries and exits 0. If a query fails, the others are
stopped and the process exits 1 (the Dagster sensor restarts it; the checkpoints
make the restart exact).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from streaming import transforms as t
from streaming.progress import ProgressListener, sync_committed
from streaming.session import stream_session
from streaming.sink import DeadLetterSink, TotalsSink
from topproducts import kafka_io
from topproducts.events import Topic
from topproducts.leaderboards.store import LeaderboardStore, open_store
from topproducts.settings import Settings, get_settings

log = logging.getLogger("streaming.job")

QUERY_ALL = "leaderboard_all"
QUERY_WINDOWS = "leaderboard_windows"
QUERY_DEAD_LETTERS = "dead_letters"
QUERIES = (QUERY_ALL, QUERY_WINDOWS, QUERY_DEAD_LETTERS)


def kafka_source(spark: SparkSession, settings: Settings) -> DataFrame:
    return (spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
            .option("subscribe", settings.topic(Topic.ORDERS.value))
            .option("startingOffsets", "earliest")
            # Retention may delete unread data while the job is down: log and go on.
            .option("failOnDataLoss", "false")
            .load())


def start_queries(raw: DataFrame, settings: Settings, store: LeaderboardStore
                  ) -> list[StreamingQuery]:
    """Wire the transforms between ``raw`` (Kafka-shaped rows) and the Cassandra sinks."""
    parsed = t.parse(raw, Topic.ORDERS)
    counting = t.counting_events(t.valid_events(parsed))
    trigger = {"processingTime": f"{settings.stream_trigger_seconds} seconds"}
    checkpoints = settings.checkpoint_dir

    def start(df: DataFrame, name: str, sink, mode: str) -> StreamingQuery:
        return (df.writeStream.queryName(name).outputMode(mode).trigger(**trigger)
                .option("checkpointLocation", str(checkpoints / name))
                .foreachBatch(sink).start())

    all_time = t.all_time_totals(t.item_rows(t.dedupe_all_time(counting)))
    windows = t.window_totals(t.item_rows(t.dedupe_windowed(counting, settings.watermark)),
                              settings.window_duration, settings.window_slide)
    return [
        start(all_time, QUERY_ALL, TotalsSink(store, settings.top_n, QUERY_ALL), "update"),
        start(windows, QUERY_WINDOWS, TotalsSink(store, settings.top_n, QUERY_WINDOWS), "update"),
        start(t.dead_letters(parsed), QUERY_DEAD_LETTERS, DeadLetterSink(store), "append"),
    ]


def run(settings: Settings, stop: threading.Event) -> int:
    """Run until ``stop`` is set (0) or a query fails (1)."""
    kafka_io.ensure_topics(settings, [settings.topic(Topic.ORDERS.value)])
    settings.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    with open_store(settings) as store:
        sync_committed(store, settings.checkpoint_dir, QUERIES, datetime.now(UTC))
        late_totals = {p.query: p.late_rows_dropped_total for p in store.progress()}
        spark = stream_session(settings)
        listener = ProgressListener(store, late_totals)
        spark.streams.addListener(listener)
        queries = start_queries(kafka_source(spark, settings), settings, store)
        log.info("stream started: topic %s -> keyspace %s, checkpoints %s, trigger %ss",
                 settings.topic(Topic.ORDERS.value), settings.cassandra_keyspace,
                 settings.checkpoint_dir, settings.stream_trigger_seconds)
        code = 0
        while not stop.wait(1.0):
            failed = [q for q in queries if not q.isActive]
            if failed:
                for q in failed:
                    error = q.exception()
                    log.error("query %s stopped: %s", q.name,
                              error.desc.splitlines()[0] if error else "no error")
                code = 1
                break
        for q in queries:
            if q.isActive:
                log.info("stopping %s (last batch %s)", q.name,
                         (q.lastProgress or {}).get("batchId"))
                q.stop()
        spark.streams.removeListener(listener)
        spark.stop()
        log.info("stream stopped")
        return code


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
    sys.exit(run(get_settings(), stop))


if __name__ == "__main__":
    main()
