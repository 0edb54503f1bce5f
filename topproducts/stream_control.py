"""Start, stop and inspect the streaming job (`python -m streaming.job`) as a background process.

Used by ``topproducts stream``, by Dagster, by tests and by the benchmark. The pid
file is ``<state_dir>/run/stream.pid``, the log ``<state_dir>/logs/stream.log``.
The child gets every setting as a ``TOPPRODUCTS_*`` variable, so what the caller
configured (an isolated keyspace, a test topic prefix) is what the job uses. The
process runs in its own session: its JVM is in the same process group, so a
stop or a kill reaches both.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from topproducts.errors import TopProductsError
from topproducts.settings import REPO_ROOT, Settings
from topproducts.stack import process

COMMAND = [sys.executable, "-m", "streaming.job"]
MARKER = "streaming.job"  # a pid whose command line lacks it is not our job (pid reuse)


def pid_file(settings: Settings) -> Path:
    return settings.run_dir / "stream.pid"


def log_file(settings: Settings) -> Path:
    return settings.logs_dir / "stream.log"


def running_pid(settings: Settings) -> int | None:
    """The job's pid if it runs (a stale pid file is ignored)."""
    return process.read_pid(pid_file(settings), expect=MARKER)


def start(settings: Settings, wait: float = 3.0, rebuild: bool = False) -> int:
    """Start the job in the background; fail if it is running or dies at once.

    ``rebuild``: the batch run (``--rebuild``) under the same pid file, so that whoever
    watches the stream (the Dagster sensor) sees it running and starts no second one.
    """
    pid = running_pid(settings)
    if pid is not None:
        raise TopProductsError(f"the stream already runs (pid {pid}); stop it first")
    log = log_file(settings)
    command = [*COMMAND, "--rebuild"] if rebuild else COMMAND
    pid = process.spawn(command, log, pid_file(settings), env=settings.to_env(), cwd=REPO_ROOT)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.wait_gone(pid, 0.2):
            raise TopProductsError(f"the stream exited at once; see {log}:\n"
                                   + process.tail(log, 5))
    return pid


def stop(settings: Settings, timeout: float = 60.0) -> int | None:
    """SIGTERM the job and wait for its clean stop; SIGKILL after ``timeout``.

    Returns the pid that was stopped, or None if nothing ran.
    """
    pid = running_pid(settings)
    if pid is not None:
        # Only the Python driver gets SIGTERM: it stops the queries cleanly, then the JVM.
        process.stop(pid, timeout, term_group=False)
    pid_file(settings).unlink(missing_ok=True)
    return pid


def kill(settings: Settings) -> int | None:
    """``kill -9`` the job and its JVM, as a crash would (tests of recovery use it)."""
    pid = running_pid(settings)
    if pid is None:
        return None
    os.killpg(pid, signal.SIGKILL)
    process.wait_gone(pid, 30)
    return pid
