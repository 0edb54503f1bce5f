"""``topproducts seed`` and ``topproducts produce``: the shop's data, from the command line.

They run the same functions as the Dagster assets (``topproducts_assets.shop``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from topproducts import kafka_io
from topproducts.countries import country as lookup_country
from topproducts.errors import ConfigError
from topproducts.settings import get_settings
from topproducts.shop import outbox, simulator
from topproducts.shop import seed as seeding

console = Console(stderr=True)


@contextmanager
def _progress_bar() -> Iterator[seeding.Progress]:
    """A rich progress bar fed by the shop's ``progress(task, done, total)`` callbacks."""
    with Progress(TextColumn("[bold]{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=max(total, 1))
            bar.update(tasks[name], completed=done if total else 1, total=max(total, 1))

        yield progress


def _country(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return lookup_country(value).code
    except ConfigError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _rate(value: float) -> str:
    return f"{value:,.0f}/s"


@click.command()
@click.option("--customers", type=click.IntRange(0, seeding.MAX_SCALE),
              default=seeding.DEFAULT_CUSTOMERS, show_default=True,
              help="Customers 1..N exist afterwards (only missing ones are added).")
@click.option("--products", type=click.IntRange(0, seeding.MAX_SCALE),
              default=seeding.DEFAULT_PRODUCTS, show_default=True,
              help="Products 1..N (with their variants) exist afterwards.")
@click.option("--seed", "seed_value", type=int, default=seeding.DEFAULT_SEED, show_default=True,
              help="Random seed: the same seed and scale give the same rows.")
def seed(customers: int, products: int, seed_value: int) -> None:
    """Create the shop's schema and seed it: deterministic, idempotent, bulk."""
    settings = get_settings()
    kafka_io.ensure_topics(settings)  # fail fast if Kafka is down: customers publish events
    with _progress_bar() as progress:
        report = seeding.seed(settings, customers, products, seed_value, progress)
    published = outbox.publish_pending(settings)
    table = Table(title=f"seed {seed_value}: {customers:,} customers, {products:,} products")
    table.add_column("table")
    table.add_column("rows added", justify="right")
    for name, n in sorted(report.rows.items()):
        table.add_row(name, f"{n:,}")
    console.print(table)
    rate = report.total_rows / report.seconds if report.seconds else 0.0
    console.print(f"{report.total_rows:,} rows in {report.seconds:.2f}s ({_rate(rate)}); "
                  f"{published.events:,} events published to Kafka")


@click.command()
@click.option("--orders", type=click.IntRange(1, simulator.MAX_ORDERS), required=True,
              help="How many orders to place.")
@click.option("--rate", type=click.FloatRange(0, min_open=True), default=None,
              help="At most this many orders per second (default: as fast as possible).")
@click.option("--country", callback=_country, default=None,
              help="Only customers of this country (code or name, e.g. IN or India).")
@click.option("--seed", "seed_value", type=int, default=None,
              help="Random seed for the shoppers' choices (default: random).")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Orders per MySQL transaction.")
def produce(orders: int, rate: float | None, country: str | None, seed_value: int | None,
            batch_size: int) -> None:
    """Place orders (MySQL) and publish their events (Kafka) through the outbox."""
    settings = get_settings()
    with _progress_bar() as progress:
        report = simulator.produce(settings, orders, seed=seed_value, rate=rate, country=country,
                                   batch_size=batch_size, progress=progress)
    table = Table(title=f"{report.orders:,} orders" + (f" in {country}" if country else ""))
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, n in (
        ("confirmed", report.confirmed),
        ("cancelled at payment", report.cancelled_at_payment),
        ("cancelled later (earlier orders)", report.cancelled_later),
        ("shipment steps (earlier orders)", report.shipment_steps),
        ("delivered", report.delivered),
        ("MySQL rows written", report.rows),
        ("events published", report.published.events),
    ):
        table.add_row(label, f"{n:,}")
    for topic, n in sorted((report.published.by_topic or {}).items()):
        table.add_row(f"  {topic}", f"{n:,}")
    console.print(table)
    console.print(f"{report.seconds:.2f}s: {_rate(report.orders_per_second)} orders, "
                  f"{_rate(report.events_per_second)} events, "
                  f"{report.published.bytes / 1e6:.1f} MB")
