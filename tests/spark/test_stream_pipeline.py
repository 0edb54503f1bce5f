"""The job's wiring (``start_query``) on local files instead of Kafka, into an in-memory store.

Covers what only a streaming run shows: dedupe across batches (the driver's ledger), late
events dropped from windows but counted all-time and as late, and dead letters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from streaming.counting import Counter
from streaming.job import QUERY, geometry, start_query
from streaming.session import local_session
from streaming.sink import LeaderboardSink
from tests.support.reference import InMemoryStore, expected_totals, synthetic_orders
from topproducts.events import encode
from topproducts.leaderboards.ranking import (
    DEFAULT_GRANULARITY,
    Granularity,
    Metric,
    rank,
    roll_up,
    to_micros,
)
from topproducts.settings import Settings

pytestmark = pytest.mark.spark  # a local Spark session: a JVM and the Maven jars

RAW = "key string, value string, topic string, partition int, offset long, timestamp string"
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
TOP_N = 3


@pytest.fixture(scope="module")
def spark():
    return local_session()


def test_stream_dedupes_drops_late_events_from_windows_and_keeps_dead_letters(spark, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    next_offset = 0

    def publish(name: str, values: list[bytes | None], offsets: list[int] | None = None) -> None:
        nonlocal next_offset
        lines = []
        for i, v in enumerate(values):
            if offsets is None:
                offset, next_offset = next_offset, next_offset + 1
            else:
                offset = offsets[i]
            lines.append(json.dumps({"key": "k", "value": v.decode() if v else None,
                                     "topic": "shop.orders", "partition": 0, "offset": offset,
                                     "timestamp": "2026-11-25T10:00:00Z"}))
        staged = tmp_path / f"{name}.tmp"
        staged.write_text("\n".join(lines) + "\n")
        staged.rename(inbox / f"{name}.json")  # atomic: the source never sees half a file

    settings = Settings(state_dir=tmp_path / "state", stream_trigger_seconds=0.2, top_n=TOP_N)
    g = geometry(settings)
    raw = spark.readStream.schema(RAW).json(str(inbox)).select(
        "key", F.col("value").cast("binary").alias("value"), "topic", "partition", "offset",
        F.to_timestamp("timestamp").alias("timestamp"))
    store = InMemoryStore(g)
    sink = LeaderboardSink(store, Counter(g, TOP_N), QUERY)
    on_time = synthetic_orders(30, seed=8, start=T0, step=timedelta(minutes=1), cancel_rate=0.3)
    # an hour older than the first batch's max event time: late (the watermark is 10 min)
    late = synthetic_orders(2, seed=9, start=T0 - timedelta(hours=1), cancel_rate=0,
                            first_order_id=1000)
    bad_first = [b"not json", None, b"[1, 2]", b"  "]
    bad_second = [b'{"event_id": ']
    max_event = T0 + timedelta(minutes=29)  # the last confirmation
    query = start_query(raw, settings, sink)
    try:
        publish("b1", [encode(e) for e in on_time] + bad_first)
        query.processAllAvailable()
        first_batches = set(sink.facts)
        assert store.stream_state(QUERY).max_event_us == to_micros(max_event)
        # late events, then re-published ones: old and recent (deduped either way), and
        # a bad message delivered again (same partition and offset: one dead letter)
        publish("b2", [encode(e) for e in late + on_time[:10] + on_time[-6:]] + bad_second)
        publish("b3", [bad_first[0]], offsets=[len(on_time)])
        query.processAllAvailable()
        sink.flush()  # what the idle query does
        assert query.exception() is None
    finally:
        query.stop()

    # counting events: each order fact once; late ones counted as late, once
    assert sum(f.late for f in sink.facts.values()) == 2
    assert all(sink.facts[b].late == 0 for b in first_batches)
    late_batch = next(b for b, f in sink.facts.items() if f.late)
    assert sink.facts[late_batch].late_total == 2 == sink.counter.late_total
    assert sink.facts[max(sink.facts)].watermark == max_event - timedelta(minutes=10)

    all_time = expected_totals(on_time + late)
    windowed = {k: v for k, v in expected_totals(
        on_time, timedelta(hours=1), timedelta(minutes=5)).items() if k[1] != "all"}
    for (scope, wid), items in (all_time | windowed).items():
        for by in Granularity:
            assert store.totals(scope, wid, by) == roll_up(items.values(), by), (by, scope, wid)
    # the late events are in no pane: every pane written is one of an on-time event
    on_time_panes = {g.pane_of(to_micros(e.occurred_at)) for e in on_time}
    assert {period for _, period, _, _ in store.rows if period is not None} == on_time_panes
    assert {(scope, wid) for _, _, scope, wid in store.boards} == set(all_time) | set(windowed)
    for (metric, by, scope, wid), board in store.boards.items():
        assert board == rank(store.totals(scope, wid, by), metric, TOP_N), (metric, scope, wid)
    assert (Metric.REVENUE, DEFAULT_GRANULARITY, "GLOBAL", "all") in store.boards

    # dead letters: one per bad message, with its reason and where to find it
    got = sorted((d.offset, d.reason, d.value) for d in store.dead.values())
    first_offset = len(on_time)
    second_offset = first_offset + len(bad_first) + len(late) + 16
    assert got == [
        (first_offset, "not a JSON object", b"not json"),
        (first_offset + 1, "empty message value", None),
        (first_offset + 2, "not a JSON object", b"[1, 2]"),
        (first_offset + 3, "empty message value", b"  "),
        (second_offset, "malformed JSON", b'{"event_id": '),
    ]
