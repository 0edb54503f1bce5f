"""``topproducts reconcile``: compare the leaderboards in Cassandra with MySQL, now."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from topproducts import reconcile as rec
from topproducts.settings import get_settings

console = Console(stderr=True)


@click.command()
@click.option("--wait", default=60.0, show_default=True,
              help="Seconds to wait for a quiet moment (nothing in flight).")
def reconcile(wait: float) -> None:
    """Check that every leaderboard total equals MySQL (all-time and recent windows)."""
    settings = get_settings()
    failed = False
    for kind, label in ((rec.ALL_TIME, "all-time"), ("windows", "windows")):
        with console.status(f"reconciling {label}"):
            report = rec.run(settings, kind, wait_seconds=wait)
        colour = "green" if report.passed else "red"
        console.print(f"[{colour}]{label}: {report.summary()}[/]")
        for mismatch in report.mismatches[:10]:
            console.print(f"  {mismatch}")
        failed |= not report.passed
    if failed:
        sys.exit(1)
