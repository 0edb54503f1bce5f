"""``topproducts demo``: the whole path, from nothing running to live leaderboards.

Stack up -> Dagster UI (webserver + daemon) -> seed the shop (Dagster job) ->
launch the stream (Dagster job) -> produce orders (Dagster job) -> wait until the
stream caught up -> print the leaderboards -> run the checks (Dagster job):
freshness, reconciliation against MySQL, rank sanity.
Every step runs through Dagster, so the UI shows the runs and the lineage.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from rich.table import Table

from topproducts import monitor
from topproducts import stack as local_stack
from topproducts.cli.stack import _table
from topproducts.cli.stream import show_leaderboard
from topproducts.countries import GLOBAL_SCOPE
from topproducts.errors import TopProductsError
from topproducts.leaderboards.ranking import ALL_TIME, Granularity, Metric
from topproducts.leaderboards.store import STREAM_QUERY, open_store
from topproducts.settings import Settings, get_settings
from topproducts.stack import dagster

console = Console(stderr=True)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def step(title: str) -> None:
    console.rule(f"[bold]{title}")


def run_job(name: str, ops: dict | None = None):
    """Run a job of the code location in this process, recorded in the UI's instance."""
    import dagster as dg

    from topproducts_assets.definitions import defs

    job = defs.resolve_job_def(name)
    result = job.execute_in_process(run_config={**QUIET, "ops": ops or {}},
                                    instance=dg.DagsterInstance.get(), raise_on_error=False)
    if not result.success:
        failure = next((e for e in result.all_events if e.is_failure), None)
        raise TopProductsError(f"Dagster job {name} failed: "
                               f"{failure.message if failure else 'see the Dagster UI'}")
    return result


def timed(name: str, ops: dict | None = None) -> float:
    started = time.monotonic()
    run_job(name, ops)
    return time.monotonic() - started


def wait_caught_up(settings: Settings, timeout: float) -> monitor.Health:
    deadline = time.monotonic() + timeout
    with console.status("waiting for the stream to catch up") as status:
        while True:
            health, progress = monitor.snapshot(settings, datetime.now(UTC))
            status.update(f"stream {health.state.value}: {health.lag:,} events to process")
            if health.pid is None:
                raise TopProductsError(f"the stream is not running: {health.reason}; "
                                       "see topproducts stream status")
            if health.lag == 0 and any(p.query == STREAM_QUERY for p in progress):
                return health
            if time.monotonic() > deadline:
                raise TopProductsError(f"the stream did not catch up within {timeout:.0f}s "
                                       f"({health.lag} events left)")
            time.sleep(1)


@click.command()
@click.option("--orders", default=3000, show_default=True, help="Orders to place.")
@click.option("--customers", default=1000, show_default=True, help="Customers to seed.")
@click.option("--products", default=200, show_default=True, help="Products to seed.")
@click.option("--ui/--no-ui", default=True, show_default=True,
              help="Start the Dagster UI (webserver + daemon) and record the runs there.")
def demo(orders: int, customers: int, products: int, ui: bool) -> None:
    """Run the whole pipeline and show live leaderboards that equal MySQL."""
    settings = get_settings()
    started = time.monotonic()
    os.environ["DAGSTER_HOME"] = str(dagster.dagster_home(settings))  # the UI's instance

    step("1. the local stack: MariaDB, Kafka, Cassandra")
    statuses = local_stack.up(settings, progress=lambda n, m: console.print(f"{n:<10} {m}"))
    _table(statuses)

    if ui:
        step("2. Dagster: webserver and daemon (schedules, the stream's health sensor)")
        with console.status("starting Dagster"):
            version = dagster.start(settings)
        console.print(f"Dagster {version} at http://{settings.dagster_host}:"
                      f"{settings.dagster_port}")

    step("3. seed the shop (Dagster job seed_shop)")
    took = timed("seed_shop", {
        "catalogue": {"config": {"products": products}},
        "customers": {"config": {"new_customers": 0, "minimum": customers}},
    })
    console.print(f"{customers:,} customers and {products:,} products in MySQL ({took:.1f}s)")

    step("4. launch the stream (Dagster job launch_stream)")
    run_job("launch_stream", {"leaderboard_stream": {"config": {"reason": "topproducts demo"}}})
    console.print("Spark Structured Streaming reads Kafka and writes Cassandra; "
                  f"its UI: http://127.0.0.1:{settings.spark_ui_port}")

    step(f"5. place {orders:,} orders (Dagster job produce_orders: MySQL + Kafka)")
    took = timed("produce_orders", {"order_events": {"config": {"orders": orders}}})
    console.print(f"{orders:,} orders in {took:.1f}s ({orders / took:,.0f} orders/s)")

    step("6. the stream catches up")
    wait_caught_up(settings, timeout=600)
    console.print("every event in Kafka is in the leaderboards")

    step("7. the leaderboards (Cassandra)")
    with open_store(settings) as store:
        windows = store.windows(GLOBAL_SCOPE, limit=1)
    for metric in (Metric.QUANTITY, Metric.REVENUE):
        show_leaderboard(settings, metric, GLOBAL_SCOPE, ALL_TIME, 5)
    if windows:
        show_leaderboard(settings, Metric.REVENUE, GLOBAL_SCOPE, windows[0].id, 5)
    # the same products per seller: rows that the default board sums
    show_leaderboard(settings, Metric.REVENUE, GLOBAL_SCOPE, ALL_TIME, 5, Granularity.VARIANT)

    step("8. observe and check the leaderboards (Dagster job observe_leaderboards)")
    import dagster as dg

    result = run_job("observe_leaderboards")
    table = Table()
    for column in ("leaderboard", "check", "result", "detail"):
        table.add_column(column)
    failed = 0
    for event in result.all_events:
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        check = event.asset_check_evaluation_data
        warning = check.severity == dg.AssetCheckSeverity.WARN
        failed += not check.passed and not warning
        result_text = ("[green]passed[/]" if check.passed
                       else "[yellow]warning[/]" if warning else "[red]failed[/]")
        table.add_row(check.asset_key.to_user_string(), check.check_name, result_text,
                      check.description or "")
    Console(width=max(Console().width, 130)).print(table)
    if failed:
        raise TopProductsError(f"{failed} checks failed: see the Dagster UI")

    took_all = timedelta(seconds=round(time.monotonic() - started))
    console.rule(f"[bold]done in {took_all}")
    if ui:
        console.print(f"Dagster UI: http://{settings.dagster_host}:{settings.dagster_port}"
                      "/assets/leaderboard_stream?view=lineage  (the pipeline's lineage)")
    console.print("more orders:      .venv/bin/topproducts produce --orders 1000\n"
                  "a leaderboard:    .venv/bin/topproducts leaderboard --metric revenue "
                  "--country IN\n"
                  "the live page:    .venv/bin/topproducts api  (then http://127.0.0.1:8000)\n"
                  "stop everything:  make down")
