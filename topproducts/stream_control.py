"""Start, stop and inspect the streaming job (`python -m streaming.job`) as a background process.

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
MARKER = "streaming.job"  # a pid whose command line lacks it is not our job (pid reuse)


def pid_file(settings: Settings) -> Path:
    return settings.run_dir / "stream.pid"


def log_file(settings: Settings) -> Path:
    return settings.logs_dir / "stream.log"


def supervised(settings: Settings, rebuild: bool = False, wait: float = 3.0,
               stop_timeout: float = 60.0) -> Supervised:
    """The job as a supervised process; ``rebuild``: the batch run (``--rebuild``)."""
    return Supervised(
        name="stream", label="the stream", pid_file=pid_file(settings),
        log_file=log_file(settings), command=[*COMMAND, "--rebuild"] if rebuild else COMMAND,
        env=settings.to_env(), cwd=REPO_ROOT, marker=MARKER, grace=wait,
        # Only the Python driver gets SIGTERM: it stops the queries cleanly, then the JVM.
        term_group=False, stop_timeout=stop_timeout,
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
