"""Start, stop and inspect the streaming job as a background process.

Two launchers (``stream_launcher``): ``python -m streaming.job`` (the job builds its
session from the settings), or ``spark-submit ... streaming/job.py`` (the job takes the
session spark-submit built, as on any Spark cluster; see :func:`command`). With
``stream_netns`` the process runs inside that network namespace (the local cluster's
app host).

Used by ``topproducts stream``, by Dagster, by tests and by the benchmark. The pid
file is ``<state_dir>/run/stream.pid``, the log ``<state_dir>/logs/stream.log``.
The child gets every setting as a ``TOPPRODUCTS_*`` variable, so what the caller
configured (an isolated keyspace, a test topic prefix) is what the job uses. The
process runs in its own session: its JVM is in the same process group, so a
stop or a kill reaches both. Starting, stopping and the pid file are the one supervisor's
(:mod:`topproducts.stack.supervisor`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from topproducts.errors import TopProductsError
from topproducts.settings import REPO_ROOT, Settings
from topproducts.stack.supervisor import Supervised

COMMAND = [sys.executable, "-m", "streaming.job"]
SCRIPT = REPO_ROOT / "streaming" / "job.py"  # what spark-submit runs
# Text of our job's command line under either launcher (``-m streaming.job``, spark-submit's
# ``.../streaming/job.py``): a pid whose command line lacks it is not our job (pid reuse).
MARKER = "streaming"


def command(settings: Settings, rebuild: bool = False) -> list[str]:
    """The job's command line for ``stream_launcher`` (inside ``stream_netns`` if set).

    spark-submit gets the cluster's conventions: ``--master``, the Kafka source as
    ``--jars`` from ``~/.m2`` (where the job's host may not reach Maven Central;
    ``--packages org.apache.spark:spark-sql-kafka-0-10_2.13:<pyspark version>`` works as
    well where it does), the driver's addresses, memory and UI port as ``--conf``.
    """
    from topproducts.stack.spark import kafka_jars, spark_home

    s = settings
    if s.stream_launcher == "spark-submit":
        job = [str(spark_home() / "bin" / "spark-submit"), "--master", s.spark_master,
               "--name", "topproducts-stream", "--jars", ",".join(kafka_jars(s)),
               "--driver-memory", s.spark_driver_memory,
               *(["--executor-memory", s.spark_executor_memory, "--executor-cores",
                  str(s.spark_executor_cores)] if s.spark_master.startswith("spark://") else []),
               "--conf", f"spark.driver.host={s.spark_driver_host}",
               "--conf", f"spark.driver.bindAddress={s.spark_driver_bind}",
               "--conf", f"spark.ui.port={s.spark_ui_port}",
               "--conf", "spark.ui.showConsoleProgress=false",
               "--conf", f"spark.pyspark.python={sys.executable}",
               str(SCRIPT)]
    else:
        job = list(COMMAND)
    if rebuild:
        job.append("--rebuild")
    return [*(["ip", "netns", "exec", s.stream_netns] if s.stream_netns else []), *job]


def pid_file(settings: Settings) -> Path:
    return settings.run_dir / "stream.pid"


def log_file(settings: Settings) -> Path:
    return settings.logs_dir / "stream.log"


def supervised(settings: Settings, rebuild: bool = False, wait: float = 3.0,
               stop_timeout: float = 60.0) -> Supervised:
    """The job as a supervised process; ``rebuild``: the batch run (``--rebuild``)."""
    submitted = settings.stream_launcher == "spark-submit"
    return Supervised(
        name="stream", label="the stream", pid_file=pid_file(settings),
        log_file=log_file(settings), command=lambda: command(settings, rebuild),
        # SPARK_LOCAL_IP: the driver's UI listens on the driver's bind address only.
        env={**settings.to_env(), "SPARK_LOCAL_IP": settings.spark_driver_bind},
        cwd=REPO_ROOT, marker=MARKER,
        grace=wait,
        # python: only the Python driver gets SIGTERM: it stops the queries cleanly, then
        # the JVM. spark-submit: the JVM is the parent; both get it.
        term_group=submitted, stop_timeout=stop_timeout,
    )


def running_pid(settings: Settings) -> int | None:
    """The job's pid if it runs (a stale pid file is ignored)."""
    return supervised(settings).pid()


def start(settings: Settings, wait: float = 3.0, rebuild: bool = False) -> int:
    """Start the job in the background; fail if it is running or dies within ``wait`` s.

    ``rebuild``: the batch run (``--rebuild``) under the same pid file, so that whoever
    watches the stream (the Dagster sensor) sees it running and starts no second one.
    """
    job = supervised(settings, rebuild=rebuild, wait=wait)
    pid = job.pid()
    if pid is not None:
        raise TopProductsError(f"the stream already runs (pid {pid}); stop it first")
    return job.start().pid


def stop(settings: Settings, timeout: float = 60.0) -> int | None:
    """SIGTERM the job and wait for its clean stop; SIGKILL after ``timeout``.

    Returns the pid that was stopped, or None if nothing ran.
    """
    stopped = supervised(settings, stop_timeout=timeout).stop()
    return stopped.pid if stopped else None


def kill(settings: Settings) -> int | None:
    """``kill -9`` the job and its JVM, as a crash would (tests of recovery use it)."""
    return supervised(settings).kill()
