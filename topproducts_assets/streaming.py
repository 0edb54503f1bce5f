"""The Spark streaming job, launched by Dagster and watched by a sensor.

The job itself runs outside any Dagster run (a never-ending query would hold a
run open forever): materializing ``leaderboard_stream`` starts the process if
it is not running and returns at once; ``stop_stream`` stops it. The sensor
that watches and restarts it is in :mod:`topproducts_assets.monitoring`.

(No ``from __future__ import annotations``: Dagster reads annotations at runtime.)
"""

import contextlib
import os
import signal

import dagster as dg
from pydantic import Field

from topproducts_assets import resources
from topproducts_assets.resources import StreamResource
from topproducts_assets.shop import ORDER_EVENTS, OWNERS

GROUP = "streaming"
LEADERBOARD_STREAM = dg.AssetKey("leaderboard_stream")
LAUNCH_JOB = "launch_stream"
STOP_JOB = "stop_stream"
REBUILD_JOB = "rebuild_leaderboards"


class LaunchConfig(dg.Config):
    restart: bool = Field(default=False,
                          description="stop a running stream first (the sensor sets this)")
    reason: str = Field(default="launched by hand", description="why: shown in the run's logs")


@dg.asset(
    key=LEADERBOARD_STREAM, deps=[ORDER_EVENTS], group_name=GROUP, owners=OWNERS,
    kinds={"spark", "kafka"},
    description="The PySpark Structured Streaming job: reads the order events from Kafka "
                "(offsets in its checkpoint), counts each order fact once, keeps exact totals "
                "in the driver's memory (restored from Cassandra at start) and writes them "
                "and the leaderboards to Cassandra. Materializing it starts the job if it is "
                "not running.",
)
def leaderboard_stream(
    context: dg.AssetExecutionContext, config: LaunchConfig, stream: StreamResource
) -> dg.MaterializeResult:
    settings = stream.settings()
    context.log.info("launch requested: %s", config.reason)
    pid = stream.running_pid()
    action = "already running"
    if pid is not None and config.restart:
        context.log.info("stopping pid %s before the restart", pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGCONT)  # a frozen (stalled) process must wake to stop
        stream.stop()
        pid = None
    if pid is None:
        pid = stream.start()
        action = "restarted" if config.restart else "started"
    context.log.info("stream %s (pid %s), log %s", action, pid, stream.log_file())
    return dg.MaterializeResult(metadata={
        "action": action,
        "reason": config.reason,
        "pid": pid,
        "spark_ui": dg.MetadataValue.url(f"http://127.0.0.1:{settings.spark_ui_port}"),
        "log": dg.MetadataValue.path(str(stream.log_file())),
        "checkpoints": dg.MetadataValue.path(str(settings.checkpoint_dir)),
        "topic": settings.topic("orders"),
    })


@dg.op(description="Stop the streaming job gracefully (its state stays checkpointed).")
def stop_stream_op(context: dg.OpExecutionContext, stream: StreamResource) -> None:
    pid = stream.stop()
    context.log.info(f"stopped pid {pid}" if pid else "the stream was not running")


launch_stream = dg.define_asset_job(
    LAUNCH_JOB, selection=[LEADERBOARD_STREAM],
    description="Start the streaming job if it is not running (idempotent).",
)


@dg.job(name=STOP_JOB, description="Stop the streaming job; the sensor will not restart it.")
def stop_stream() -> None:
    stop_stream_op()


@dg.op(description="Stop the stream, recount every leaderboard from Kafka's history with the "
                   "stream's own query in Spark batch mode (availableNow), then start the "
                   "stream again: it continues where the rebuild ended.")
def rebuild_op(context: dg.OpExecutionContext, stream: StreamResource):
    from topproducts.rebuild import rebuild

    settings = stream.settings()
    stopped = stream.stop()
    if stopped:
        context.log.info(f"stopped the stream (pid {stopped}) for the rebuild")
    reported = [-1]

    def progress(done: int, total: int) -> None:
        step = int(10 * done / total) if total else 10
        if step > reported[0]:
            reported[0] = step
            context.log.info(f"rebuild: {done:,} of {total:,} events ({10 * step}%)")

    result = rebuild(settings, progress, store=stream.cassandra.store(create=False))
    pid = stream.start()
    context.log.info(f"rebuilt from {result.events:,} events in {result.seconds:.1f}s; "
                     f"stream started (pid {pid})")
    # the stream is launched again: the sensor keeps it running from here
    yield dg.AssetMaterialization(asset_key=LEADERBOARD_STREAM, metadata={
        "action": "rebuilt and started", "pid": pid, "events": result.events,
        "rebuild_seconds": round(result.seconds, 1),
        "events_per_second": round(result.events_per_second)})
    yield dg.Output(None)


@dg.job(name=REBUILD_JOB, description="Recount every leaderboard from the event history "
                                      "(after a reset, a new granularity or window, or a "
                                      "lost keyspace), then restart the stream.")
def rebuild_leaderboards() -> None:
    rebuild_op()


ASSETS = [leaderboard_stream]

defs = dg.Definitions(assets=ASSETS, jobs=[launch_stream, stop_stream, rebuild_leaderboards],
                      resources=resources.RESOURCES)
