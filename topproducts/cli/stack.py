"""``topproducts stack up | down | status | logs SERVICE``."""

from __future__ import annotations

import os
import sys
import time

import click
from rich.console import Console
from rich.table import Table

from topproducts import stack as local_stack
from topproducts.settings import get_settings
from topproducts.stack import process

console = Console(stderr=True)
SERVICE_NAMES = ["mariadb", "kafka", "cassandra"]


def _progress(name: str, message: str) -> None:
    console.print(f"[bold]{name:<10}[/] {message}")


@click.group()
def stack() -> None:
    """Start, stop and inspect the local MariaDB, Kafka and Cassandra."""


@stack.command()
@click.argument("names", nargs=-1, type=click.Choice(SERVICE_NAMES))
@click.option("--spark/--no-spark", default=True, help="Also check that Spark reads Kafka.")
def up(names: tuple[str, ...], spark: bool) -> None:
    """Start the services (all by default); a running one is left alone."""
    settings = get_settings()
    started = time.monotonic()
    with console.status("starting the local stack") as spinner:
        def progress(name: str, message: str) -> None:
            spinner.update(f"{name}: {message}")
            _progress(name, message)

        statuses = local_stack.up(settings, names or None, progress)
    if spark and not names:
        with console.status("spark: resolving the Kafka source jars"):
            from topproducts.stack.spark import kafka_jars, pyspark_version

            jars = kafka_jars(settings)
        _progress("spark", f"pyspark {pyspark_version()}, Kafka source: {len(jars)} jars in ~/.m2")
    _table(statuses)
    console.print(f"up in {time.monotonic() - started:.1f}s; state in {settings.state_dir}")


@stack.command()
@click.argument("names", nargs=-1, type=click.Choice(SERVICE_NAMES))
def down(names: tuple[str, ...]) -> None:
    """Stop the services we started; leave no process behind."""
    stopped = local_stack.down(get_settings(), names or None, _progress)
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@stack.command()
def status() -> None:
    """Tell, per service, whether it runs and answers, and where its log is."""
    settings = get_settings()
    statuses = local_stack.status(settings)
    _table(statuses)
    others = local_stack.other_processes(settings)
    for name, pid in others.items():
        console.print(f"also running: {name} (pid {pid}), log {_short(str(settings.logs_dir))}/"
                      f"{name}.log")
    if any(s.state != "running" for s in statuses):
        sys.exit(3)


@stack.command()
@click.argument("name", type=click.Choice(SERVICE_NAMES))
@click.option("-n", "--lines", default=40, show_default=True)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
def logs(name: str, lines: int, follow: bool) -> None:
    """Print the last lines of a service's log."""
    svc = local_stack.services(get_settings(), [name])[0]
    if follow:
        os.execvp("tail", ["tail", "-n", str(lines), "-F", str(svc.log_file)])
    text = process.tail(svc.log_file, lines)
    click.echo(text or f"(no log yet at {svc.log_file})")


def _table(statuses: list[local_stack.ServiceStatus], title: str = "local stack") -> None:
    table = Table(title=title)
    for column in ("service", "state", "address", "pid", "answer", "log"):
        table.add_column(column)
    colours = {"running": "green", "stopped": "dim", "foreign": "yellow"}
    for s in statuses:
        state = f"[{colours.get(s.state, 'red')}]{s.state}[/]"
        table.add_row(s.name, state, s.address, str(s.pid or "-"), s.answer or s.error or "-",
                      _short(str(s.log_file)))
    Console(width=max(Console().width, 110)).print(table)


def _short(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path

