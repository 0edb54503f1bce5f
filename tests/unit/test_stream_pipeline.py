"""The job's wiring (start_queries) on local files instead of Kafka, into an in-memory store.

Covers what only a streaming run shows: dedupe across batches, late events dropped
from windows but counted all-time, the late-row count, and dead letters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from streaming.job import QUERY_WINDOWS, start_queries
from streaming.reference import InMemoryStore, expected_totals, synthetic_orders
from streaming.session import local_session
from topproducts.events import encode
from topproducts.leaderboards.ranking import Metric, rank
from topproducts.settings import Settings

RAW = "key string, value string, topic string, partition int, offset long, timestamp string"
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def spark():
    return local_session()


def test_stream_dedupes_drops_late_events_from_windows_and_keeps_dead_letters(spark, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    offset = 0

    def publish(name: str, values: list[bytes | None]) -> None:
        nonlocal offset
        lines = []
        for v in values:
            lines.append(json.dumps({"key": "k", "value": v.decode() if v else None,
                                     "topic": "shop.orders", "partition": 0, "offset": offset,
                                     "timestamp": "2026-11-25T10:00:00Z"}))
            offset += 1
        staged = tmp_path / f"{name}.tmp"
        staged.write_text("\n".join(lines) + "\n")
        staged.rename(inbox / f"{name}.json")  # atomic: the source never sees half a file

    settings = Settings(state_dir=tmp_path / "state", stream_trigger_seconds=0.2, top_n=3)
    raw = spark.readStream.schema(RAW).json(str(inbox)).select(
        "key", F.col("value").cast("binary").alias("value"), "topic", "partition", "offset",
        F.to_timestamp("timestamp").alias("timestamp"))
    store = InMemoryStore()
    on_time = synthetic_orders(30, seed=8, start=T0, step=timedelta(minutes=1), cancel_rate=0.3)
    late = synthetic_orders(2, seed=9, start=T0 - timedelta(hours=1), cancel_rate=0,
                            first_order_id=1000)
    queries = start_queries(raw, settings, store)
    try:
        publish("b1", [encode(e) for e in on_time] + [b"not json", None])
        for q in queries:
            q.processAllAvailable()
        # late events, then re-published ones: old (late too) and recent (deduped)
        publish("b2", [encode(e) for e in late + on_time[:10] + on_time[-6:]])
        for q in queries:
            q.processAllAvailable()
        windows_query = next(q for q in queries if q.name == QUERY_WINDOWS)
        late_rows = sum(op["numRowsDroppedByWatermark"] for p in windows_query.recentProgress
                        for op in p["stateOperators"])
    finally:
        for q in queries:
            q.stop()

    expected = expected_totals(on_time + late)
    for key, items in expected.items():
        assert store.totals[key] == items
    windowed = expected_totals(on_time, timedelta(hours=1), timedelta(minutes=5))
    got_windows = {k: v for k, v in store.totals.items() if k[1] != "all"}
    assert got_windows == {k: v for k, v in windowed.items() if k[1] != "all"}
    # Dropped as late: the two old confirmations, and the re-published counting events
    # (older than the watermark too, so the dedupe never needed to see them).
    replayed = sum(e.event_type.value != "order_placed" for e in on_time[:10])
    assert late_rows == 2 + replayed
    assert sorted(d.reason for d in store.dead.values()) == ["empty message value",
                                                             "not a JSON object"]
    for (metric, scope, wid), board in store.boards.items():
        assert board == rank(store.totals[(scope, wid)].values(), metric, 3)
    assert (Metric.REVENUE, "GLOBAL", "all") in store.boards
