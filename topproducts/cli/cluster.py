"""``topproducts cluster up | down | status | env | hosts | logs NAME``: the local cluster."""

from __future__ import annotations

import os
import shlex
import sys
import time

import click
from rich.console import Console

from topproducts.cli.stack import _progress, _short, _table
from topproducts.settings import get_settings
from topproducts.stack import cluster as local_cluster
from topproducts.stack import process

console = Console(stderr=True)


@click.group()
def cluster() -> None:
    """A local cluster: 3 Kafka, 3 Cassandra, Spark master + 2 workers, MariaDB, each on
    its own host (a network namespace as root; else loopback aliases 127.0.0.2-4).

    Point any command at it with: eval "$(topproducts cluster env)".
    """


def _settings():
    return local_cluster.client_settings(get_settings())


@cluster.command()
def up() -> None:
    """Start every node (side by side); a running one is left alone."""
    _, why = local_cluster.network_mode(get_settings())
    settings = _settings()
    if why:
        console.print(f"network namespaces unavailable ({why}): the cluster runs on loopback "
                      f"aliases {settings.cluster_hosts}")
    started = time.monotonic()
    statuses = local_cluster.up(settings, _progress)
    _table(statuses, "local cluster")
    console.print(f"cluster up in {time.monotonic() - started:.1f}s; state in "
                  f"{_short(str(settings.state_dir))}; use it: "
                  'eval "$(.venv/bin/topproducts cluster env)"')


@cluster.command()
def down() -> None:
    """Stop the cluster's stream and nodes; leave no process behind."""
    stopped = local_cluster.down(_settings(), _progress)
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@cluster.command()
def status() -> None:
    """Tell, per node, whether it runs and answers (exit 3 if one does not)."""
    settings = _settings()
    statuses = local_cluster.status(settings)
    _table(statuses, "local cluster")
    for name, pid in local_cluster.other_processes(settings).items():
        console.print(f"also running: {name} (pid {pid})")
    if any(s.state != "running" for s in statuses):
        sys.exit(3)


@cluster.command()
def env() -> None:
    """Print the TOPPRODUCTS_* variables that point every command at the cluster."""
    for key, value in sorted(local_cluster.client_env(get_settings()).items()):
        click.echo(f"export {key}={shlex.quote(value)}")


@cluster.command()
def hosts() -> None:
    """Print each host: its address, and its network namespace (run a command there with
    `ip netns exec NAMESPACE ...`)."""
    for host in local_cluster.network(_settings()).hosts:
        click.echo(f"{host.name:<16} {host.address:<12} {host.netns or '(loopback alias)'}")


@cluster.command()
@click.argument("name")
@click.option("-n", "--lines", default=40, show_default=True)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
def logs(name: str, lines: int, follow: bool) -> None:
    """Print the last lines of a node's log (kafka-1, cassandra-2, spark-worker-1, ...)."""
    svc = local_cluster.by_name(_settings(), name)
    if follow:
        os.execvp("tail", ["tail", "-n", str(lines), "-F", str(svc.log_file)])
    click.echo(process.tail(svc.log_file, lines) or f"(no log yet at {svc.log_file})")
