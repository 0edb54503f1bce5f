"""The streaming job against real Kafka, Spark and Cassandra.

Each test owns a topic prefix, a keyspace and a state dir (checkpoints, log, pid).
Events are written straight to Kafka; the expected leaderboards are computed in
Python from those same events (:mod:`tests.support.reference`).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import TopicPartition

from streaming.job import QUERY
from streaming.store import StreamStore
from tests.integration.conftest import stop_stream_and_drop_keyspace
from tests.support.reference import expected_totals, synthetic_orders
from topproducts import kafka_io
from topproducts import stream_control as process
from topproducts.errors import StackError
from topproducts.events import Envelope, encode
from topproducts.leaderboards import Granularity, Metric, open_store, parse_duration, rank
from topproducts.leaderboards.ranking import roll_up
from topproducts.leaderboards.schema import drop_leaderboards
from topproducts.settings import Settings
from topproducts_assets.leaderboards import observe_dead_letters

pytestmark = pytest.mark.integration


@pytest.fixture
def env(running_stack: Settings, unique: str, tmp_path) -> Iterator[Settings]:
    settings = running_stack.replace(kafka_topic_prefix=unique, cassandra_keyspace=unique,
                                     state_dir=tmp_path, stream_trigger_seconds=1.0,
                                     spark_ui_port=4060)
    kafka_io.ensure_topics(settings, [settings.topic("orders")])
    try:
        yield settings
    finally:
        stop_stream_and_drop_keyspace(settings)
        admin = kafka_io.admin(settings)  # keep the handle alive until the futures end
        for future in admin.delete_topics([settings.topic("orders")]).values():
            future.result(timeout=30)  # wait: the process may exit right after


def produce(settings: Settings, messages: list[tuple[str, bytes | None]]) -> None:
    producer = kafka_io.producer(settings)
    for key, value in messages:
        producer.produce(settings.topic("orders"), key=key, value=value)
    assert producer.flush(30) == 0


def events_of(events: list[Envelope]) -> list[tuple[str, bytes]]:
    return [(e.key, encode(e)) for e in events]


def end_offsets(settings: Settings) -> dict[int, int]:
    consumer = kafka_io.consumer(f"{settings.kafka_topic_prefix}-offsets", settings)
    try:
        topic = settings.topic("orders")
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in meta.partitions}
    finally:
        consumer.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str, log=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def caught_up(settings: Settings) -> bool:
    """Every query's latest batch ended at the topic's end, and its deferred boards are
    written (the idle query writes them)."""
    target = {settings.topic("orders"): end_offsets(settings)}
    try:
        with open_store(settings) as store:
            rows = {p.query: p for p in store.progress()}
    except StackError:  # Cassandra busy with the drain's writes: ask again next poll
        return False
    row = rows.get(QUERY)
    return row is not None and row.offsets() == target and row.pending_boards == 0


def assert_leaderboards_exact(settings: Settings, events: list[Envelope]) -> None:
    expected = expected_totals(events, parse_duration(settings.window_duration),
                               parse_duration(settings.window_slide))
    with open_store(settings) as store:
        for (scope, wid), items in expected.items():
            for by in Granularity:
                rolled = roll_up(items.values(), by)
                assert store.totals(scope, wid, by) == rolled, (by, scope, wid)
                for metric in Metric:
                    board = store.top(metric, scope, wid, by=by).entries
                    assert board == rank(rolled, metric, settings.top_n), (
                        metric, by, scope, wid)
                    names = [r.item.name for r in board]
                    assert len(set(names)) == len(names), (metric, by, scope, wid)


def test_totals_exact_duplicates_ignored_and_bad_messages_dead_lettered(env: Settings) -> None:
    start = datetime.now(UTC) - timedelta(minutes=20)
    events = synthetic_orders(150, seed=31, start=start, step=timedelta(seconds=5),
                              cancel_rate=0.25)
    bad = [("k1", b"not json"), ("k2", None), ("k3", b'{"event_type": "order_confirmed"}'),
           ("k4", json.dumps({**json.loads(encode(events[1])), "schema_version": 2}).encode()),
           ("k5", encode(events[1]).replace(b'"quantity":', b'"quantity":-', 1))]
    # the outbox relay re-publishes at least once: some events twice
    produce(env, events_of(events) + bad + events_of(events[-20:]))
    pid = process.start(env)
    wait_until(lambda: caught_up(env), 300, "the stream to catch up", process.log_file(env))
    assert_leaderboards_exact(env, events)
    with open_store(env) as store:
        letters = store.dead_letters(env.topic("orders"), datetime.now(UTC).date())
    assert len(letters) == len(bad)
    reasons = sorted(d.reason for d in letters)
    assert reasons == sorted([
        "not a JSON object", "empty message value", "event_id: missing",
        "schema_version: unexpected value '2'", "payload.items[].quantity: must be >= 1"])
    assert process.running_pid(env) == pid  # bad input never kills the stream
    # more bad input while it runs: still alive, still counted
    produce(env, [("k6", b"\x00\xff garbage")])
    wait_until(lambda: caught_up(env), 120, "the stream to catch up", process.log_file(env))
    assert process.running_pid(env) == pid
    with open_store(env) as store:  # what Dagster's dead_letter_events observation reports
        seen = observe_dead_letters(store, env)
    assert seen.metadata["rejected_today"] == len(bad) + 1
    assert "partition" in seen.metadata["latest"].value
    assert process.stop(env) == pid
    assert "stream stopped" in process.log_file(env).read_text()


def test_kill_minus_9_mid_run_then_restart_keeps_totals_exact(env: Settings) -> None:
    start = datetime.now(UTC) - timedelta(minutes=15)
    events = synthetic_orders(240, seed=41, start=start, step=timedelta(seconds=3),
                              cancel_rate=0.2)
    first, second = events[: len(events) // 2], events[len(events) // 2:]
    produce(env, events_of(first))
    process.start(env)
    wait_until(lambda: caught_up(env), 300, "the first half", process.log_file(env))
    produce(env, events_of(second))
    time.sleep(2.5)  # a batch of the second half is under way
    assert process.kill(env) is not None
    process.start(env)
    wait_until(lambda: caught_up(env), 300, "the restarted stream", process.log_file(env))
    assert_leaderboards_exact(env, events)

    # A crash between a batch's commit and its progress row leaves the row one batch behind;
    # with no new input no batch would ever rewrite it. Start-up syncs it from the checkpoint.
    assert process.stop(env) is not None
    with StreamStore.opened(env) as store:
        stale = json.dumps({env.topic("orders"): {"0": 1}})
        store.sync_committed(QUERY, 0, stale, datetime.now(UTC))
    assert not caught_up(env)
    process.start(env)
    wait_until(lambda: caught_up(env), 120, "the progress rows to match the checkpoints",
               process.log_file(env))


def test_kill_minus_9_in_the_middle_of_a_large_drain_keeps_every_board_exact(env: Settings
                                                                            ) -> None:
    """Small micro-batches over a big backlog, a kill -9 while they run, a restart: every
    total and board (all-time and each window, global and per country) equals the events."""
    settings = env.replace(stream_max_offsets_per_trigger=1500)
    start = datetime.now(UTC) - timedelta(minutes=50)
    events = synthetic_orders(6000, seed=51, start=start, step=timedelta(milliseconds=500),
                              cancel_rate=0.1, variants=300)
    produce(settings, [*events_of(events), ("bad", b"{broken")])

    def batches_done() -> int:
        with open_store(settings) as store:
            rows = {p.query: p for p in store.progress()}
        return rows[QUERY].batch_id + 1 if QUERY in rows else 0

    process.start(settings)
    wait_until(lambda: batches_done() >= 3, 300, "a few batches", process.log_file(settings))
    assert not caught_up(settings), "the drain ended before the kill: make it bigger"
    assert process.kill(settings) is not None
    process.start(settings)
    wait_until(lambda: caught_up(settings), 600, "the restarted stream",
               process.log_file(settings))
    assert_leaderboards_exact(settings, events)
    with open_store(settings) as store:
        assert len(store.dead_letters(settings.topic("orders"), datetime.now(UTC).date())) == 1


def test_old_layout_or_lost_keyspace_stops_the_start_with_what_to_do(env: Settings) -> None:
    """State the job cannot count on exactly is refused with the command that fixes it."""
    from topproducts.errors import TopProductsError

    # 1. Checkpoints of the three-query layout.
    (env.checkpoint_dir / "leaderboard_all" / "commits").mkdir(parents=True)
    with pytest.raises(TopProductsError, match="topproducts rebuild"):
        process.start(env, wait=20)
    (env.checkpoint_dir / "leaderboard_all" / "commits").rmdir()
    (env.checkpoint_dir / "leaderboard_all").rmdir()

    # 1b. A checkpoint of the layout where Spark kept the dedupe state (now the driver's).
    (env.checkpoint_dir / QUERY / "state" / "0").mkdir(parents=True)
    with pytest.raises(TopProductsError, match="Spark kept which orders were counted"):
        process.start(env, wait=20)
    shutil.rmtree(env.checkpoint_dir / QUERY)

    # 2. A checkpoint whose keyspace was dropped while the stream was stopped.
    produce(env, events_of(synthetic_orders(5, seed=61)))
    process.start(env)
    wait_until(lambda: caught_up(env), 300, "the stream to catch up", process.log_file(env))
    assert process.stop(env) is not None
    drop_leaderboards(env)
    with pytest.raises(TopProductsError, match="was it dropped"):
        process.start(env, wait=30)
