"""Start, stop and inspect the streaming job as a background process.

Used by ``topproducts stream``, by tests and by the benchmark. The pid file is
``<state_dir>/run/stream.pid``, the log ``<state_dir>/logs/stream.log``. The child
gets every setting as a ``TOPPRODUCTS_*`` variable, so what the caller configured
(an isolated keyspace, a test topic prefix) is what the job uses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

from topproducts.errors import TopProductsError
from topproducts.settings import PREFIX, REPO_ROOT, Settings

_children: dict[int, subprocess.Popen] = {}  # started by this process: reaped on exit


def settings_env(settings: Settings) -> dict[str, str]:
    """Every field of ``settings`` as its environment variable."""
    return {PREFIX + f.name.upper(): str(getattr(settings, f.name)) for f in fields(settings)}


def pid_file(settings: Settings) -> Path:
    return settings.run_dir / "stream.pid"


def log_file(settings: Settings) -> Path:
    return settings.logs_dir / "stream.log"


def alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and b"streaming.job" in cmdline


def running_pid(settings: Settings) -> int | None:
    """The job's pid if it runs (a stale pid file is ignored)."""
    try:
        pid = int(pid_file(settings).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def start(settings: Settings, wait: float = 3.0) -> int:
    """Start the job in the background; fail if it is running or dies at once."""
    pid = running_pid(settings)
    if pid is not None:
        raise TopProductsError(f"the stream already runs (pid {pid}); stop it first")
    for d in (settings.run_dir, settings.logs_dir):
        d.mkdir(parents=True, exist_ok=True)
    log = log_file(settings)
    with log.open("ab") as out:
        out.write(f"--- start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        out.flush()
        child = subprocess.Popen(
            [sys.executable, "-m", "streaming.job"], cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **settings_env(settings)},
        )
    _children[child.pid] = child
    pid_file(settings).write_text(f"{child.pid}\n")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
            raise TopProductsError(f"the stream exited at once (code {child.returncode}); "
                                   f"see {log}:\n{tail}")
        time.sleep(0.2)
    return child.pid


def stop(settings: Settings, timeout: float = 60.0) -> int | None:
    """SIGTERM the job and wait for its clean stop; SIGKILL after ``timeout``.

    Returns the pid that was stopped, or None if nothing ran.
    """
    pid = running_pid(settings)
    if pid is None:
        pid_file(settings).unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)  # its own session: the JVM goes too
        while alive(pid):
            time.sleep(0.1)
    pid_file(settings).unlink(missing_ok=True)
    return pid


def kill(settings: Settings) -> int | None:
    """``kill -9`` the job and its JVM, as a crash would (tests of recovery use it)."""
    pid = running_pid(settings)
    if pid is None:
        return None
    os.killpg(pid, signal.SIGKILL)
    while alive(pid):
        time.sleep(0.1)
    return pid
