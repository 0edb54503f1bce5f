"""``topproducts demo``: the main demo, from a started stack to live leaderboards."""

from __future__ import annotations

import time

import click
from rich.console import Console

from topproducts import stack as local_stack
from topproducts.cli.stack import _table
from topproducts.settings import get_settings

console = Console(stderr=True)


def step(title: str) -> None:
    console.rule(f"[bold]{title}")


@click.command()
def demo() -> None:
    """Start the stack and show every service answering."""
    settings = get_settings()
    started = time.monotonic()
    step("1. the local stack")
    statuses = local_stack.up(settings, progress=lambda n, m: console.print(f"{n:<10} {m}"))
    step("2. Spark reads Kafka")
    from topproducts.stack.spark import spark_session

    spark = spark_session(settings, "topproducts-demo-check")
    console.print(f"spark {spark.version} on {spark.sparkContext.master}: "
                  f"{spark.range(1000).count()} rows counted")
    spark.stop()
    _table(statuses)
    console.print(f"demo done in {time.monotonic() - started:.0f}s. "
                  "Stop everything with: make down")
