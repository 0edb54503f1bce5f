"""Dagster runs the stream, for real: launch, observe, check; kill -9 and freeze it, and the
sensor restarts it; the checks pass again. MariaDB, Kafka, Spark and Cassandra are real."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pytest

from tests.support.sandbox import new_name, sandbox
from topproducts import monitor
from topproducts import stream_control as stream_process
from topproducts.settings import Settings
from topproducts.shop import outbox, seed, simulator
from topproducts_assets import leaderboards, monitoring, resources, streaming
from topproducts_assets.definitions import defs

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def pipeline(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Settings, dict]]:
    """An isolated shop (databases, topics, keyspace, state folder), seeded; the stream is
    stopped and everything dropped afterwards."""
    state_dir = tmp_path_factory.mktemp("state")
    with sandbox(running_stack, new_name("tdag"), state_dir=state_dir) as base:
        settings = base.replace(
            stream_stall_seconds=8.0, stream_restart_cooldown_seconds=0.0,
            leaderboard_freshness_seconds=60.0, reconcile_wait_seconds=90.0,
            stream_trigger_seconds=1.0)
        seed.seed(settings, customers=80, products=30, seed=5)
        outbox.publish_pending(settings)
        yield settings, resources.for_settings(settings)


def wait_caught_up(settings: Settings, timeout: float = 180) -> monitor.Health:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health, progress = monitor.snapshot(settings, datetime.now(UTC))
        queries = {p.query for p in progress}
        if health.pid and health.lag == 0 and "leaderboards" in queries:
            return health
        time.sleep(1)
    raise AssertionError(f"the stream did not catch up in {timeout}s: {health}")


def observe_and_check(instance: dg.DagsterInstance, resources: dict) -> dict[str, bool]:
    """Run ``observe_leaderboards``: five observations, then thirteen checks."""
    job = dg.Definitions(
        assets=leaderboards.ASSETS, asset_checks=leaderboards.ASSET_CHECKS,
        jobs=[monitoring.observe_leaderboards], resources=resources,
    ).resolve_job_def("observe_leaderboards")
    result = job.execute_in_process(instance=instance)
    assert result.success
    observed = {e.asset_key for e in (ev.asset_observation_data.asset_observation
                                      for ev in result.all_events
                                      if ev.event_type_value == "ASSET_OBSERVATION")}
    assert observed == {b.key for b in leaderboards.BOARDS} | {leaderboards.DEAD_LETTERS.key}
    for board in leaderboards.BOARDS:
        latest = instance.get_latest_data_version_record(board.key, is_source=True)
        assert latest is not None and latest.asset_observation.metadata["rows"].value > 0
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
            for e in (ev.asset_check_evaluation_data for ev in result.all_events
                      if ev.event_type_value == "ASSET_CHECK_EVALUATION")}


def sensor_tick(instance: dg.DagsterInstance, resources: dict, cursor: str | None = None):
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as ctx:
        return monitoring.stream_health(ctx)


def launch(instance: dg.DagsterInstance, resources: dict, run_config=None) -> dict:
    result = dg.materialize([streaming.leaderboard_stream], resources=resources,
                            instance=instance, run_config=run_config)
    assert result.success
    return result.get_asset_materialization_events()[0].materialization.metadata


def test_launch_observe_check_kill_freeze_restart(pipeline: tuple[Settings, dict]) -> None:
    settings, resources = pipeline
    instance = dg.DagsterInstance.ephemeral()

    # Not launched yet: the sensor reports, and does not start anything on its own.
    first = sensor_tick(instance, resources)
    assert not first.run_requests
    assert "not_started" in str(first.skip_reason)

    simulator.produce(settings, orders=300, seed=1)
    meta = launch(instance, resources)
    assert meta["action"].value == "started" and meta["pid"].value > 0
    assert launch(instance, resources)["action"].value == "already running"  # idempotent
    wait_caught_up(settings)

    # Healthy: an observation of the stream, no restart.
    tick = sensor_tick(instance, resources)
    assert not tick.run_requests
    (observed,) = tick.asset_events
    assert observed.asset_key == streaming.LEADERBOARD_STREAM
    assert observed.metadata["lag_events"].value == 0
    assert observed.metadata["state"].value in ("idle", "healthy")

    checks = observe_and_check(instance, resources)
    assert len(checks) == 13 and all(checks.values()), checks

    # Dead: kill -9; the sensor asks for a restart, the restart run brings it back.
    killed = stream_process.kill(settings)
    assert killed and stream_process.running_pid(settings) is None
    simulator.produce(settings, orders=200, seed=2)
    tick = sensor_tick(instance, resources)
    assert len(tick.run_requests) == 1, tick.skip_reason
    request = tick.run_requests[0]
    assert "dead" in request.run_config["ops"]["leaderboard_stream"]["config"]["reason"]
    meta = launch(instance, resources, request.run_config)
    assert meta["pid"].value != killed
    wait_caught_up(settings)
    checks = observe_and_check(instance, resources)
    assert all(checks.values()), checks

    # Stalled: freeze the process while orders wait; the sensor sees no batch for too long.
    pid = stream_process.running_pid(settings)
    os.killpg(pid, signal.SIGSTOP)
    try:
        simulator.produce(settings, orders=100, seed=3)
        time.sleep(settings.stream_stall_seconds + 2)
        tick = sensor_tick(instance, resources)
    finally:
        os.killpg(pid, signal.SIGCONT) if not tick.run_requests else None
    assert len(tick.run_requests) == 1, tick.skip_reason
    assert "stalled" in tick.run_requests[0].run_config["ops"]["leaderboard_stream"]["config"][
        "reason"]
    meta = launch(instance, resources, tick.run_requests[0].run_config)
    assert meta["action"].value == "restarted" and meta["pid"].value != pid
    wait_caught_up(settings)
    assert all(observe_and_check(instance, resources).values())

    # Stopped on purpose: the sensor leaves it alone.
    job = dg.Definitions(jobs=[streaming.stop_stream], resources=resources
                         ).resolve_job_def("stop_stream")
    assert job.execute_in_process(instance=instance).success
    tick = sensor_tick(instance, resources)
    assert not tick.run_requests and "not restarted" in str(tick.skip_reason)


def test_definitions_show_the_whole_lineage() -> None:
    graph = defs.resolve_asset_graph()
    stream_node = graph.get(streaming.LEADERBOARD_STREAM)
    assert {k.to_user_string() for k in stream_node.parent_keys} == {"order_events"}
    for board in leaderboards.BOARDS:
        node = graph.get(board.key)
        assert node.parent_keys == {streaming.LEADERBOARD_STREAM}
        assert node.kinds == {"cassandra"} and node.group_name == "leaderboards"
        checks = {k.name for k in graph.get_check_keys_for_assets({board.key})}
        assert checks == {"rank_sanity", "freshness", "reconciliation"}
    # MySQL -> Kafka -> Spark -> Cassandra
    assert graph.get(dg.AssetKey("order_events")).kinds == {"mysql", "kafka"}
    assert "spark" in stream_node.kinds
