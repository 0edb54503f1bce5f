"""``topproducts ui``: the Dagster UI (webserver + daemon) in the background."""

from __future__ import annotations

import click
from rich.console import Console

from topproducts.settings import get_settings
from topproducts.stack import dagster

console = Console(stderr=True)


@click.command()
@click.option("--stop", is_flag=True, help="Stop the Dagster webserver and daemon.")
def ui(stop: bool) -> None:
    """Start the Dagster webserver and daemon (schedules, sensors) and print the UI's address."""
    settings = get_settings()
    if stop:
        stopped = dagster.stop(settings)
        console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return
    with console.status("starting the Dagster webserver and daemon"):
        version = dagster.start(settings)
    console.print(f"Dagster {version}: http://{settings.dagster_host}:{settings.dagster_port}  "
                  f"(logs: {dagster.log_file(settings, dagster.WEBSERVER)}; "
                  "stop: topproducts ui --stop)")
