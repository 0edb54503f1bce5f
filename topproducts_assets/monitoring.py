"""Watching the pipeline: the stream's health sensor, observations and checks on a clock.

The sensor ``stream_health`` (every 30 s) reads the stream's progress rows and
Kafka's end offsets, records an observation of the stream (state, lag,
throughput; cheap reads, no run needed), and requests a restart of the stream
when it is dead or stalled while it is *wanted* (its latest launch is newer than
its latest successful stop). Its cursor holds the time of the last restart
request, so it asks at most once per cooldown period.

The job ``observe_leaderboards`` observes the four leaderboards and runs their
checks in the same run, so each check result belongs to the observation it
judged (Dagster shows a check as current only for the latest observation).

(No ``from __future__ import annotations``: Dagster reads annotations at runtime.)
"""

import json
from datetime import UTC, datetime

import dagster as dg

from topproducts import monitor
from topproducts_assets import leaderboards, resources
from topproducts_assets.resources import StreamResource
from topproducts_assets.streaming import LEADERBOARD_STREAM, STOP_JOB, LaunchConfig
from topproducts_assets.streaming import launch_stream as launch_stream_job


def stream_wanted(instance: dg.DagsterInstance) -> bool:
    """True when the stream's latest launch (a materialization of ``leaderboard_stream``, by
    any job) is newer than the latest successful ``stop_stream`` run."""
    launch = instance.get_latest_materialization_event(LEADERBOARD_STREAM)
    if launch is None:
        return False
    stops = instance.get_run_records(
        dg.RunsFilter(job_name=STOP_JOB, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1)
    stopped = stops[0].create_timestamp.timestamp() if stops else 0.0
    return launch.timestamp > stopped


def decide(health: monitor.Health, wanted: bool, cursor: dict, now: float,
           cooldown: float) -> tuple[str | None, str, dict]:
    """The restart policy, pure: (reason to restart or None, explanation, next cursor)."""
    state = f"stream {health.state.value}: {health.reason}"
    if not health.needs_restart:
        return None, state, cursor
    if not wanted:
        return None, f"{state}; not restarted: stopped by {STOP_JOB} or never launched", cursor
    last = float(cursor.get("last_restart_at", 0))
    if now - last < cooldown:
        return None, (f"{state}; not restarted: a restart was requested "
                      f"{now - last:.0f}s ago (cooldown {cooldown:.0f}s)"), cursor
    next_cursor = {"last_restart_at": now, "restarts": int(cursor.get("restarts", 0)) + 1}
    return state, f"{state}; restart requested", next_cursor


def stream_observation(health: monitor.Health) -> dg.AssetObservation:
    return dg.AssetObservation(
        asset_key=LEADERBOARD_STREAM,
        metadata={
            "state": health.state.value,
            "reason": health.reason,
            "pid": health.pid or 0,
            "lag_events": health.lag,
            "input_rows_per_second": round(health.input_rows_per_second, 1),
            "processed_rows_per_second": round(health.processed_rows_per_second, 1),
            # facts that came after windows they belong to were final (table late_facts)
            "late_facts": health.late_rows_dropped,
            "last_batch_at": health.last_batch_at.isoformat() if health.last_batch_at else "",
        },
    )


@dg.sensor(
    name="stream_health", minimum_interval_seconds=30, job=launch_stream_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads the stream's progress row and Kafka's end offsets; records the "
                "stream's state, lag and throughput as an observation of leaderboard_stream; "
                "restarts the stream when it is dead or stalled.",
)
def stream_health(context: dg.SensorEvaluationContext, stream: StreamResource) -> dg.SensorResult:
    now = datetime.now(UTC)
    health, _ = stream.health(now)
    cursor = json.loads(context.cursor) if context.cursor else {}
    reason, explanation, next_cursor = decide(
        health, stream_wanted(context.instance), cursor, now.timestamp(),
        stream.settings().stream_restart_cooldown_seconds)
    context.log.info("%s (lag %d events)", explanation, health.lag)
    events = [stream_observation(health)]
    if reason is None:
        return dg.SensorResult(skip_reason=explanation, asset_events=events,
                               cursor=json.dumps(next_cursor))
    request = dg.RunRequest(
        run_key=f"restart-{int(now.timestamp())}",
        run_config=dg.RunConfig(ops={"leaderboard_stream": LaunchConfig(
            restart=True, reason=f"sensor stream_health: {reason}")}),
        tags={"topproducts/restart": "true"},
    )
    return dg.SensorResult(run_requests=[request], asset_events=events,
                           cursor=json.dumps(next_cursor))


observe_leaderboards = dg.define_asset_job(
    "observe_leaderboards",
    selection=(dg.AssetSelection.assets(leaderboards.cassandra_leaderboards)
               | dg.AssetSelection.checks_for_assets(leaderboards.cassandra_leaderboards)),
    description="Observe the Cassandra leaderboards (row counts, leader, last update, lag) "
                "and the dead letters, then run their checks.",
)

observe_leaderboards_schedule = dg.ScheduleDefinition(
    name="observe_leaderboards_schedule", job=observe_leaderboards,
    cron_schedule="*/5 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes: observe the leaderboards and check them.")

# The job selects the leaderboards' assets and checks: they are defined in (and merged
# from) topproducts_assets.leaderboards.
defs = dg.Definitions(jobs=[observe_leaderboards], schedules=[observe_leaderboards_schedule],
                      sensors=[stream_health], resources=resources.RESOURCES)
