"""A Dagster webserver + daemon in the background, pid files and logs under the state dir.

The webserver serves the UI and the GraphQL API (which Airflow's DagsterOperator calls);
the daemon runs schedules and sensors and dequeues launched runs (Dagster's default run
coordinator queues runs, so without the daemon a launched run never starts).
``DAGSTER_HOME`` is ``<state_dir>/dagster``. Child processes get the project's settings as
``TOPPRODUCTS_*`` variables, so a run launched here uses the same databases and topics.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

from topproducts.errors import StackError
from topproducts.exposure import check_bind
from topproducts.settings import REPO_ROOT, Settings
from topproducts.stack import process

WORKSPACE = REPO_ROOT / "workspace.yaml"
WEBSERVER = "dagster-webserver"
DAEMON = "dagster-daemon"


def dagster_home(settings: Settings) -> Path:
    """``DAGSTER_HOME``: the instance (SQLite storage) shared by the UI, daemon and CLI runs."""
    home = settings.state_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(
            "# Local instance: SQLite storage in this folder (the defaults).\n"
            "telemetry:\n  enabled: false\n"
            "# A backfill queues its runs two at a time: ten at once on 2 cores time out\n"
            "# Cassandra connections (measured with a 30-day daily_leaderboards backfill).\n"
            "run_queue:\n  tag_concurrency_limits:\n"
            "    - key: dagster/backfill\n      limit: 2\n")
    return home


def graphql_url(settings: Settings) -> str:
    return settings.dagster_graphql_url


def log_file(settings: Settings, name: str) -> Path:
    return settings.logs_dir / f"{name}.log"


def pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


def version(settings: Settings, timeout: float = 3.0) -> str | None:
    """The Dagster version the webserver reports over GraphQL, or None if it does not answer."""
    request = urllib.request.Request(
        graphql_url(settings), data=json.dumps({"query": "{ version }"}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    try:  # (urllib, not httpx: a probe in a loop should not log every request)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(json.loads(response.read())["data"]["version"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _commands(settings: Settings, workspace: Path) -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    return {
        WEBSERVER: [
            str(bin_dir / "dagster-webserver"), "-w", str(workspace),
            "-h", settings.dagster_host, "-p", str(settings.dagster_port),
        ],
        DAEMON: [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
    }


def start(settings: Settings, workspace: Path = WORKSPACE, timeout: float = 120.0) -> str:
    """Start the webserver and the daemon unless they run; wait until GraphQL answers.

    Returns the Dagster version the webserver reports.
    """
    if not workspace.exists():
        raise StackError(f"no Dagster workspace at {workspace}")
    check_bind(settings, settings.dagster_host, "the Dagster UI")
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    env = {**settings.to_env(), "DAGSTER_HOME": str(home)}
    commands = _commands(settings, workspace)
    deadline = time.monotonic() + timeout
    # One after the other: on a fresh DAGSTER_HOME both would create the SQLite storage at
    # once and one of them dies on "table alembic_version already exists".
    for name in (WEBSERVER, DAEMON):
        if not process.read_pid(pid_file(settings, name)):
            if name == WEBSERVER and process.port_open(settings.dagster_host,
                                                       settings.dagster_port):
                owner = process.listener_pid(settings.dagster_port)
                raise StackError(
                    f"port {settings.dagster_port} is taken by "
                    f"{process.describe_pid(owner) if owner else 'another process'}; "
                    "set TOPPRODUCTS_DAGSTER_PORT"
                )
            process.spawn(commands[name], log_file(settings, name), pid_file(settings, name),
                          env=env, cwd=REPO_ROOT)
        answer = _wait_until_up(settings, name, deadline)
    return answer


def _wait_until_up(settings: Settings, name: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        if not process.read_pid(pid_file(settings, name)):
            raise StackError(
                f"{name} exited; last lines of {log_file(settings, name)}:\n"
                + process.tail(log_file(settings, name), 15)
            )
        answer = version(settings)
        if answer:
            return answer
        time.sleep(1.0)
    raise StackError(f"the Dagster webserver did not answer at {graphql_url(settings)} "
                     f"in time; see {log_file(settings, WEBSERVER)}")


def stop(settings: Settings) -> list[str]:
    """Stop the webserver and the daemon if we started them. Returns what was stopped."""
    stopped = []
    for name in (DAEMON, WEBSERVER):
        pid = process.read_pid(pid_file(settings, name))
        if pid:
            process.stop(pid)
            pid_file(settings, name).unlink(missing_ok=True)
            stopped.append(name)
    return stopped


def running(settings: Settings) -> dict[str, int | None]:
    """Process name -> pid (None when not running)."""
    return {name: process.read_pid(pid_file(settings, name)) for name in (WEBSERVER, DAEMON)}
