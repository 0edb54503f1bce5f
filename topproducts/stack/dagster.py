"""A Dagster webserver + daemon in the background, pid files and logs under the state dir.

The webserver serves the UI and the GraphQL API (which Airflow's DagsterOperator calls);
the daemon runs schedules and sensors and dequeues launched runs (Dagster's default run
coordinator queues runs, so without the daemon a launched run never starts).
``DAGSTER_HOME`` is ``<state_dir>/dagster``. Child processes get the project's settings as
``TOPPRODUCTS_*`` variables, so a run launched here uses the same databases and topics.
Both are processes of the one supervisor (:mod:`topproducts.stack.supervisor`).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from topproducts.errors import StackError
from topproducts.exposure import check_bind
from topproducts.settings import REPO_ROOT, Settings
from topproducts.stack.supervisor import Supervised

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


def supervised(settings: Settings, workspace: Path = WORKSPACE, timeout: float = 120.0
               ) -> dict[str, Supervised]:
    """The webserver (ready when GraphQL answers) and the daemon (ready when alive), in
    start order."""
    bin_dir = Path(sys.executable).parent
    home = settings.state_dir / "dagster"
    env = {**settings.to_env(), "DAGSTER_HOME": str(home)}
    return {
        WEBSERVER: Supervised(
            name=WEBSERVER, label="the Dagster webserver", pid_file=pid_file(settings, WEBSERVER),
            log_file=log_file(settings, WEBSERVER), marker=WEBSERVER,
            command=[str(bin_dir / WEBSERVER), "-w", str(workspace),
                     "-h", settings.dagster_host, "-p", str(settings.dagster_port)],
            ports=[(settings.dagster_host, settings.dagster_port)],
            port_hint="set TOPPRODUCTS_DAGSTER_PORT", probe=lambda: version(settings),
            env=env, cwd=REPO_ROOT, start_timeout=timeout),
        DAEMON: Supervised(
            name=DAEMON, label="the Dagster daemon", pid_file=pid_file(settings, DAEMON),
            log_file=log_file(settings, DAEMON), marker=DAEMON,
            command=[str(bin_dir / DAEMON), "run", "-w", str(workspace)], grace=1.0,
            env=env, cwd=REPO_ROOT, start_timeout=timeout),
    }


def start(settings: Settings, workspace: Path = WORKSPACE, timeout: float = 120.0) -> str:
    """Start the webserver and the daemon unless they run; wait until GraphQL answers.

    Returns the Dagster version the webserver reports.
    """
    if not workspace.exists():
        raise StackError(f"no Dagster workspace at {workspace}")
    check_bind(settings, settings.dagster_host, "the Dagster UI")
    dagster_home(settings)
    # One after the other: on a fresh DAGSTER_HOME both would create the SQLite storage at
    # once and one of them dies on "table alembic_version already exists".
    webserver, daemon = supervised(settings, workspace, timeout).values()
    answer = webserver.start().answer
    daemon.start()
    return str(answer)


def stop(settings: Settings) -> list[str]:
    """Stop the webserver and the daemon if we started them. Returns what was stopped."""
    processes = supervised(settings)
    return [name for name in (DAEMON, WEBSERVER) if processes[name].stop()]


def running(settings: Settings) -> dict[str, int | None]:
    """Process name -> pid (None when not running)."""
    return {name: sup.pid() for name, sup in supervised(settings).items()}
