"""``topproducts airflow setup | export | dags-test DAG_ID | run | stop``.

Airflow 2.11 lives in its own venv (``<state_dir>/airflow-venv``) with its home and SQLite
metadata DB in ``<state_dir>/airflow``; every Airflow command runs there with the environment
from :func:`topproducts.airflow_export.airflow_env`.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import click
from rich.console import Console

from topproducts import airflow_export
from topproducts.errors import StackError, TopProductsError
from topproducts.settings import REPO_ROOT, Settings, get_settings
from topproducts.stack import dagster, process

console = Console(stderr=True)
INSTALL_SCRIPT = REPO_ROOT / "infra" / "airflow" / "install.sh"
REQUIREMENTS = REPO_ROOT / "infra" / "airflow" / "requirements.txt"
PROCESSES = ("airflow-scheduler", "airflow-webserver")

# The webserver binds to loopback only, so the local UI skips the login page.
WEBSERVER_CONFIG = '''\
# Written by `topproducts airflow setup`: local, loopback-only Airflow; no login page.
from flask_appbuilder.const import AUTH_DB

AUTH_TYPE = AUTH_DB
AUTH_ROLE_PUBLIC = "Admin"
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None
'''


@click.group()
def airflow() -> None:
    """Run the Dagster jobs from Apache Airflow 2.11 (DAGs exported from Dagster)."""


@airflow.command()
def setup() -> None:
    """Install Airflow's venv, migrate its SQLite DB, check the Dagster connection."""
    settings = get_settings()
    started = time.monotonic()
    install(settings)
    migrate(settings)
    console.print(f"airflow: ready in {time.monotonic() - started:.0f}s; home "
                  f"{airflow_export.airflow_home(settings)}; connection "
                  f"{airflow_export.CONN_ID} -> {airflow_export.dagster_graphql_url(settings)}")


@airflow.command()
@click.option("--check", is_flag=True, help="Only compare; exit 1 if the files drifted.")
def export(check: bool) -> None:
    """Write airflow/dags/ from the Dagster schedules (one DAG per schedule)."""
    files = airflow_export.render_all()
    if check:
        problems = airflow_export.drift(files=files)
        if problems:
            raise TopProductsError("exported DAGs drifted (run `topproducts airflow export`): "
                                   + "; ".join(problems))
        console.print(f"airflow/dags is up to date ({len(files)} DAGs)")
        return
    for path in airflow_export.export(files=files):
        console.print(f"wrote {path.relative_to(REPO_ROOT)}")


@airflow.command("dags-test")
@click.argument("dag_id")
def dags_test(dag_id: str) -> None:
    """Run one DAG once with `airflow dags test` (a real Dagster run; the webserver must be up)."""
    settings = get_settings()
    ensure_ready(settings)
    require_dagster(settings)
    result = run_airflow(settings, "dags", "test", dag_id, capture=False)
    if result.returncode != 0:
        raise TopProductsError(f"airflow dags test {dag_id} failed (exit {result.returncode})")


@airflow.command()
@click.option("--port", default=8080, show_default=True, help="Airflow webserver port.")
@click.option("--unpause", is_flag=True, help="Unpause the exported DAGs so they run on cron.")
@click.option("--dagster/--no-dagster", "with_dagster", default=True, show_default=True,
              help="Start a Dagster webserver + daemon if none answers.")
def run(port: int, unpause: bool, with_dagster: bool) -> None:
    """Start Airflow's scheduler and webserver in the background (logs in the state dir)."""
    settings = get_settings()
    ensure_ready(settings)
    if dagster.version(settings) is None:
        if not with_dagster:
            require_dagster(settings)
        with console.status("starting the Dagster webserver and daemon"):
            version = dagster.start(settings)
        console.print(f"dagster {version}: http://{settings.dagster_host}:{settings.dagster_port}"
                      f" (logs {settings.logs_dir}/dagster-*.log)")
    if unpause:
        unpause_dags(settings)
    env = {**airflow_export.airflow_process_env(settings),
           "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(port)}
    python = str(airflow_export.airflow_venv(settings) / "bin" / "python")
    commands = {
        "airflow-scheduler": [python, "-m", "airflow", "scheduler"],
        "airflow-webserver": [python, "-m", "airflow", "webserver", "-H", "127.0.0.1",
                              "-p", str(port)],
    }
    for name, cmd in commands.items():
        pid = process.read_pid(settings.run_dir / f"{name}.pid")
        if pid:
            console.print(f"{name}: already running ({process.describe_pid(pid)})")
            continue
        pid = process.spawn(cmd, settings.logs_dir / f"{name}.log",
                            settings.run_dir / f"{name}.pid", env=env, cwd=REPO_ROOT)
        console.print(f"{name}: started pid {pid}, log {settings.logs_dir / f'{name}.log'}")
    with console.status(f"waiting for the Airflow webserver on 127.0.0.1:{port}"):
        deadline = time.monotonic() + 180
        while not process.port_open("127.0.0.1", port):
            if time.monotonic() > deadline or not process.read_pid(
                    settings.run_dir / "airflow-webserver.pid"):
                raise StackError("the Airflow webserver did not start; last lines:\n"
                                 + process.tail(settings.logs_dir / "airflow-webserver.log"))
            time.sleep(1)
    console.print(f"airflow: http://127.0.0.1:{port}  (stop: topproducts airflow stop)")


@airflow.command()
@click.option("--dagster", "with_dagster", is_flag=True,
              help="Also stop the Dagster webserver + daemon started by `airflow run`.")
def stop(with_dagster: bool) -> None:
    """Stop the Airflow scheduler and webserver started by `topproducts airflow run`."""
    settings = get_settings()
    stopped = []
    for name in PROCESSES:
        pid_file = settings.run_dir / f"{name}.pid"
        pid = process.read_pid(pid_file)
        if pid:
            process.stop(pid)
            pid_file.unlink(missing_ok=True)
            stopped.append(name)
    if with_dagster:
        stopped += dagster.stop(settings)
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


# Helpers (also used by the integration tests) ------------------------------------------------


def install(settings: Settings) -> None:
    """Run infra/airflow/install.sh for this state dir (it skips an up-to-date venv)."""
    venv = airflow_export.airflow_venv(settings)
    result = subprocess.run(["bash", str(INSTALL_SCRIPT), str(venv)], check=False)
    if result.returncode != 0:
        raise StackError(f"installing Airflow into {venv} failed (see the output above)")


def migrate(settings: Settings) -> None:
    """Create or upgrade Airflow's SQLite metadata DB; write the local webserver config."""
    home = airflow_export.airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "webserver_config.py"
    if not config.exists() or config.read_text() != WEBSERVER_CONFIG:
        config.write_text(WEBSERVER_CONFIG)
    result = run_airflow(settings, "db", "migrate")
    if result.returncode != 0:
        raise StackError(f"airflow db migrate failed:\n{_last_lines(result.stdout)}")
    _stamp(settings).write_text(_requirements_hash())


def ensure_ready(settings: Settings) -> None:
    """Install and migrate unless done for the current requirements."""
    stamp = _stamp(settings)
    if not stamp.exists() or stamp.read_text() != _requirements_hash():
        install(settings)
        migrate(settings)


def unpause_dags(settings: Settings) -> list[str]:
    """Unpause the exported DAGs, except those whose schedule Dagster itself runs."""
    # A fresh metadata DB knows no DAG until one is parsed: write them in first.
    steps = [("dags", "reserialize")]
    dag_ids = [s.dag_id for s in airflow_export.dag_specs(
        airflow_export.load_definitions(), airflow_export.location_name())
        if not s.runs_in_dagster]
    steps += [("dags", "unpause", dag_id) for dag_id in dag_ids]
    for args in steps:
        result = run_airflow(settings, *args)
        if result.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} failed:\n{_last_lines(result.stdout)}")
    console.print("unpaused: " + ", ".join(dag_ids))
    return dag_ids


def require_dagster(settings: Settings) -> None:
    if dagster.version(settings) is None:
        raise StackError(
            f"no Dagster webserver answers at {airflow_export.dagster_graphql_url(settings)}; "
            "start one (`topproducts airflow run` does, or "
            f".venv/bin/dagster-webserver -w workspace.yaml -h {settings.dagster_host} "
            f"-p {settings.dagster_port} plus `dagster-daemon run`)"
        )


def run_airflow(settings: Settings, *args: str, capture: bool = True,
                extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``airflow ARGS`` in Airflow's venv and environment."""
    python = airflow_export.airflow_venv(settings) / "bin" / "python"
    if not python.exists():
        raise StackError("Airflow is not installed: run `topproducts airflow setup`")
    env = {**airflow_export.airflow_process_env(settings), **(extra_env or {})}
    return subprocess.run(
        [str(python), "-m", "airflow", *args], env=env, cwd=REPO_ROOT, text=True, check=False,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
    )


def _stamp(settings: Settings) -> Path:
    return airflow_export.airflow_home(settings) / ".topproducts-migrated"


def _requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


def _last_lines(text: str | None, n: int = 15) -> str:
    return "\n".join((text or "").splitlines()[-n:])
