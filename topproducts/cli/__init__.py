"""The ``topproducts`` command line. Errors print as one line and exit non-zero."""

from __future__ import annotations

import logging
import sys

import click

from topproducts.errors import TopProductsError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def cli(verbose: bool) -> None:
    """topproducts: live leaderboards of the shop's best-selling products."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Client libraries are chatty at INFO; keep the CLI's own story readable.
    for noisy in ("py4j", "urllib3", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The Cassandra driver logs every refused connection as an error with a traceback;
    # our own errors already say which service failed and why.
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)


def _register() -> None:
    # Each command group lives in its own module; this list is the table of contents.
    from topproducts.cli import airflow, cluster, demo, reconcile, shop, stack, stream, ui
    from topproducts.cli import api as api_cli

    cli.add_command(stack.stack)
    cli.add_command(cluster.cluster)
    cli.add_command(demo.demo)
    cli.add_command(shop.seed)
    cli.add_command(shop.produce)
    cli.add_command(airflow.airflow)
    cli.add_command(api_cli.api)
    cli.add_command(stream.stream)
    cli.add_command(stream.leaderboard)
    cli.add_command(stream.rebuild)
    cli.add_command(ui.ui)
    cli.add_command(reconcile.reconcile)


_register()


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TopProductsError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # an unexpected failure still gets one readable line
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            raise
        click.secho(f"error: {type(exc).__name__}: {exc} (run with -v for details)",
                    fg="red", err=True)
        sys.exit(1)
