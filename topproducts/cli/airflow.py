"""``topproducts airflow setup | export | dags-test DAG_ID | run | stop``.

Airflow (3.3 by default, 2.11 with ``TOPPRODUCTS_AIRFLOW_VERSION=2.11``) lives in its own venv
(``<state_dir>/airflow-<version>-venv``) with its home and SQLite metadata DB in
``<state_dir>/airflow-<version>``; every Airflow command runs there with the environment
from :func:`topproducts.stack.airflow.airflow_env` (the venv, the processes and the environment
are in :mod:`topproducts.stack.airflow`; the DAG files come from
:mod:`topproducts.airflow_export`).
"""

from __future__ import annotations

import time

import click
from rich.console import Console

from topproducts import airflow_export
from topproducts.errors import StackError, TopProductsError
from topproducts.settings import REPO_ROOT, Settings, get_settings
from topproducts.stack import airflow as local_airflow
from topproducts.stack import dagster, process

console = Console(stderr=True)


@click.group()
def airflow() -> None:
    """Run the Dagster jobs from Apache Airflow 3.3 or 2.11 (DAGs exported from Dagster)."""


@airflow.command()
def setup() -> None:
    """Install Airflow's venv, migrate its SQLite DB, check the Dagster connection."""
    settings = get_settings()
    started = time.monotonic()
    local_airflow.install(settings)
    local_airflow.migrate(settings)
    console.print(f"airflow {local_airflow.airflow_release(settings)}: ready in "
                  f"{time.monotonic() - started:.0f}s; home "
                  f"{local_airflow.airflow_home(settings)}; connection "
                  f"{local_airflow.CONN_ID} -> {local_airflow.dagster_graphql_url(settings)}")


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
    local_airflow.ensure_ready(settings)
    require_dagster(settings)
    result = local_airflow.run_airflow(settings, "dags", "test", dag_id, capture=False)
    if result.returncode != 0:
        raise TopProductsError(f"airflow dags test {dag_id} failed (exit {result.returncode})")


@airflow.command()
@click.option("--port", default=8080, show_default=True,
              help="Port of Airflow's UI and REST API (3.x api-server, 2.x webserver).")
@click.option("--unpause", is_flag=True, help="Unpause the exported DAGs so they run on cron.")
@click.option("--dagster/--no-dagster", "with_dagster", default=True, show_default=True,
              help="Start a Dagster webserver + daemon if none answers.")
def run(port: int, unpause: bool, with_dagster: bool) -> None:
    """Start Airflow in the background (3.x: dag-processor, scheduler, api-server; 2.x:
    scheduler, webserver; logs in the state dir)."""
    settings = get_settings()
    local_airflow.ensure_ready(settings)
    if dagster.version(settings) is None:
        if not with_dagster:
            require_dagster(settings)
        with console.status("starting the Dagster webserver and daemon"):
            version = dagster.start(settings)
        console.print(f"dagster {version}: http://{settings.dagster_host}:{settings.dagster_port}"
                      f" (logs {settings.logs_dir}/dagster-*.log)")
    if unpause:
        unpause_dags(settings)
    processes = local_airflow.supervised(settings, port)
    with console.status(f"starting Airflow {local_airflow.airflow_release(settings)}; "
                        "waiting for its UI on "
                        f"{local_airflow.HOST}:{port}") as spinner:
        def progress(name: str, message: str) -> None:
            spinner.update(f"{name}: {message}")
            pid = processes[name].pid()
            if message == "already running" and pid:
                message = f"already running ({process.describe_pid(pid)})"
            elif message.startswith("started"):
                message += f", log {processes[name].log_file}"
            console.print(f"{name}: {message}")

        for sup in processes.values():
            sup.start(progress)
    console.print(f"airflow: http://{local_airflow.HOST}:{port}  "
                  "(stop: topproducts airflow stop)")


@airflow.command()
@click.option("--dagster", "with_dagster", is_flag=True,
              help="Also stop the Dagster webserver + daemon started by `airflow run`.")
def stop(with_dagster: bool) -> None:
    """Stop the Airflow processes started by `topproducts airflow run`."""
    settings = get_settings()
    stopped = local_airflow.stop(settings)
    if with_dagster:
        stopped += dagster.stop(settings)
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


# Helpers (also used by the integration tests) ------------------------------------------------


def unpause_dags(settings: Settings) -> list[str]:
    """Unpause the exported DAGs, except those whose schedule Dagster itself runs."""
    # A fresh metadata DB knows no DAG until one is parsed: write them in first.
    steps: list[tuple[str, ...]] = [("dags", "reserialize")]
    dag_ids = [s.dag_id for s in airflow_export.dag_specs(
        airflow_export.load_definitions(), airflow_export.location_name())
        if not s.runs_in_dagster]
    steps += [("dags", "unpause", dag_id) for dag_id in dag_ids]
    for args in steps:
        result = local_airflow.run_airflow(settings, *args)
        if result.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} failed:\n"
                             + local_airflow.last_lines(result.stdout))
    console.print("unpaused: " + ", ".join(dag_ids))
    return dag_ids


def require_dagster(settings: Settings) -> None:
    if dagster.version(settings) is None:
        raise StackError(
            f"no Dagster webserver answers at {local_airflow.dagster_graphql_url(settings)}; "
            "start one (`topproducts airflow run` does, or "
            f".venv/bin/dagster-webserver -w workspace.yaml -h {settings.dagster_host} "
            f"-p {settings.dagster_port} plus `dagster-daemon run`)"
        )
