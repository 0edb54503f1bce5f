"""``topproducts stream start | stop | status | late | reset`` and ``topproducts leaderboard``."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

import click
from rich.console import Console
from rich.table import Table

from topproducts.countries import GLOBAL_SCOPE, country
from topproducts.errors import ConfigError, TopProductsError
from topproducts.leaderboards import (
    ALL_TIME,
    DEFAULT_GRANULARITY,
    Granularity,
    Metric,
    Ranked,
    current_window_start,
    open_store,
    parse_duration,
    parse_window_id,
    window_id,
)
from topproducts.leaderboards.daily import parse_day
from topproducts.leaderboards.schema import outdated
from topproducts.settings import Settings, get_settings

console = Console()
err = Console(stderr=True)


@click.group()
def stream() -> None:
    """The Spark streaming job: Kafka orders -> leaderboards in Cassandra."""


@stream.command()
@click.option("--wait", default=5.0, show_default=True,
              help="Seconds to watch the job start before returning.")
def start(wait: float) -> None:
    """Start the job in the background (log and pid under the state dir)."""
    from topproducts import stream_control as process

    settings = get_settings()
    pid = process.start(settings, wait=wait)
    err.print(f"stream started: pid {pid}, log {process.log_file(settings)}")


@stream.command()
@click.option("--timeout", default=90.0, show_default=True,
              help="Seconds to wait for a clean stop before killing the job.")
def stop(timeout: float) -> None:
    """Stop the job cleanly (SIGTERM: queries stop between batches)."""
    from topproducts import stream_control as process

    with err.status("stopping the stream"):
        pid = process.stop(get_settings(), timeout=timeout)
    err.print(f"stream stopped (pid {pid})" if pid else "the stream was not running")


NOT_RUNNING_EXIT = 3  # LSB's "program is not running", as service managers answer


@stream.command()
def status() -> None:
    """Whether the job runs, and each query's latest batch.

    Exits 0 when the job runs and 3 when it does not (as ``systemctl status`` does),
    after printing the last progress either way, so scripts can rely on the code.
    """
    from topproducts import stream_control as process

    settings = get_settings()
    pid = process.running_pid(settings)
    err.print(f"stream: {'running, pid ' + str(pid) if pid else 'not running'}; "
              f"log {process.log_file(settings)}")
    _print_progress(settings)
    if not pid:
        raise SystemExit(NOT_RUNNING_EXIT)


def _print_progress(settings: Settings) -> None:
    try:
        with open_store(settings) as store:
            rows = store.progress()
    except TopProductsError as exc:
        err.print(f"progress unavailable: {exc}")
        return
    if not rows:
        err.print("no batch recorded yet")
        return
    now = datetime.now(UTC)
    for p in rows:  # one field a line: readable at 80 columns whatever the offsets
        table = Table(title=f"stream progress: {p.query}", show_header=False, box=None)
        table.add_column("field", style="bold")
        table.add_column("value")
        offsets = ", ".join(f"{part}:{off}" for parts in p.offsets().values()
                            for part, off in sorted(parts.items()))
        for field, value in (
                ("batch", f"{p.batch_id}: {p.input_rows} rows, "
                          f"{p.processed_rows_per_second:.0f} rows/s"),
                ("watermark", p.watermark.strftime("%Y-%m-%d %H:%M:%S") if p.watermark
                 else "-"),
                ("late facts", f"{p.late_rows_dropped} in the batch, {p.late_rows_dropped_total}"
                               " in all (came after windows they belong to were final)"),
                ("offsets", offsets or "-"),
                ("last batch", f"{(now - p.batch_at).total_seconds():.0f}s ago"),
                ("alive", f"{(now - p.updated_at).total_seconds():.0f}s ago")):
            table.add_row(field, value)
        console.print(table)


@stream.command()
@click.option("--day", "day_", default=None, metavar="YYYY-MM-DD",
              help="UTC day of the orders' confirmation (default: today and yesterday).")
def late(day_: str | None) -> None:
    """Facts that reached the stream after windows they belong to were final (a stalled
    relay, a lagging partition): each with the windows it missed. They count all-time and
    in their open windows; reconcile and the checks explain differences by them."""
    try:
        days = [parse_day(day_)] if day_ else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    today = datetime.now(UTC).date()
    days = days or [today - timedelta(days=1), today]
    settings = get_settings()
    with open_store(settings) as store:
        facts = sorted(store.late_facts(days), key=lambda f: (f.confirmed_at, f.order_id))
    if not facts:
        err.print(f"no late facts for {', '.join(map(str, days))}")
        return
    for fact in facts:
        console.print(f"- {fact}")
    err.print(f"{len(facts)} late facts ({', '.join(map(str, days))})")


@stream.command()
@click.option("--yes", is_flag=True, help="Confirm: drop the keyspace and the checkpoints.")
def reset(yes: bool) -> None:
    """Forget everything the stream computed (the next start re-reads Kafka from the start).

    Checkpoints and Cassandra tables go together: one without the other would count twice.
    """
    from topproducts import stream_control as process
    from topproducts.leaderboards.schema import drop_leaderboards

    settings = get_settings()
    if process.running_pid(settings):
        raise TopProductsError("stop the stream first: topproducts stream stop")
    if not yes:
        raise TopProductsError("this drops the leaderboards; pass --yes to confirm")
    drop_leaderboards(settings)
    shutil.rmtree(settings.checkpoint_dir, ignore_errors=True)
    err.print(f"dropped keyspace {settings.cassandra_keyspace} and {settings.checkpoint_dir}")


@click.command()
@click.option("--yes", is_flag=True, help="Confirm: drop the leaderboards that exist.")
def rebuild(yes: bool) -> None:
    """Recount every leaderboard from Kafka's history (Spark batch run of the stream's query).

    The recovery path after ``stream reset``, a new granularity or window, or a lost
    keyspace. The stream started afterwards continues where the rebuild ended.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from topproducts.rebuild import has_state
    from topproducts.rebuild import rebuild as run_rebuild

    settings = get_settings()
    if has_state(settings) and not yes:
        raise TopProductsError("this drops the leaderboards and counts every event again; "
                               "pass --yes to confirm")
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task("events counted", total=None)
        result = run_rebuild(settings, lambda done, total: bar.update(task, completed=done,
                                                                       total=total))
    err.print(f"rebuilt from {result.events:,} Kafka messages in {result.seconds:.1f}s "
              f"({result.events_per_second:,.0f}/s); start the stream with "
              "`topproducts stream start`")


@click.command()
@click.option("--metric", type=click.Choice([m.value for m in Metric]), default="quantity",
              show_default=True)
@click.option("--by", "by_", default=DEFAULT_GRANULARITY.value, show_default=True,
              help="What one row is: product_material (a product in one material), product, "
                   "or variant (product × material × seller).")
@click.option("--country", "country_", default=None,
              help="Country code or name (default: all countries).")
@click.option("--window", default="all", show_default=True,
              help="'all' (all-time), 'current' (the trailing window), or a window start.")
@click.option("--top", "top_n", type=click.IntRange(1, 1000), default=None,
              help="How many (default: settings).")
@click.option("--day", default=None, metavar="YYYY-MM-DD",
              help="A UTC day's board (built by the Dagster asset daily_leaderboards) instead "
                   "of a window.")
def leaderboard(metric: str, by_: str, country_: str | None, window: str, top_n: int | None,
                day: str | None) -> None:
    """Print a leaderboard: top products by quantity or revenue."""
    settings = get_settings()
    by = granularity(by_)
    scope = country(country_).code if country_ else GLOBAL_SCOPE
    if day is not None:
        if window != ALL_TIME:
            raise ConfigError("--day and --window are two different boards: give one")
        try:
            when = parse_day(day.strip())
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        show_daily(settings, Metric(metric), scope, when, top_n or settings.top_n, by)
        return
    if window == "current":
        start = current_window_start(datetime.now(UTC), parse_duration(settings.window_duration),
                                     parse_duration(settings.window_slide))
        wid = window_id(start)
    else:
        try:
            wid = window_id(parse_window_id(window))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    show_leaderboard(settings, Metric(metric), scope, wid, top_n or settings.top_n, by)


def granularity(text: str) -> Granularity:
    """``--by`` -> a granularity, or a one-line error naming the known ones."""
    try:
        return Granularity(text.strip().lower())
    except ValueError:
        known = ", ".join(g.value for g in Granularity)
        raise ConfigError(f"unknown granularity {text!r}; known: {known}") from None


def show_leaderboard(settings: Settings, metric: Metric, scope: str, wid: str, n: int,
                     by: Granularity = DEFAULT_GRANULARITY) -> None:
    """Print one leaderboard as a table (also used by ``topproducts demo``)."""
    with open_store(settings) as store:
        reason = outdated(store.session, settings)
        if reason:
            raise ConfigError(f"{reason}; run `topproducts rebuild --yes` (it counts every "
                              "event again from Kafka)")
        board = store.top(metric, scope, wid, n, by=by)
    label = "all-time" if wid == ALL_TIME else f"window from {wid} ({settings.window_duration})"
    title = f"Top {n} by {metric.value}, {scope}, {label}; ranked: {by.label}"
    if not board.entries:
        err.print(f"{title}: no data yet")
        return
    console.print(board_table(title, f"updated {board.updated_at:%Y-%m-%d %H:%M:%S} UTC",
                              board.entries, by))


def show_daily(settings: Settings, metric: Metric, scope: str, day: date, n: int,
               by: Granularity = DEFAULT_GRANULARITY) -> None:
    """Print one day's board (one Cassandra partition read)."""
    with open_store(settings) as store:
        board = store.daily_top(metric, scope, day, n, by=by)
    title = f"Top {n} by {metric.value}, {scope}, {day} (UTC day); ranked: {by.label}"
    if not board.materialized:
        raise ConfigError(f"no daily leaderboards for {day}: build the day in Dagster "
                          f"(asset daily_leaderboards, partition {day})")
    if not board.entries:
        err.print(f"{title}: no sales that day")
        return
    state = "final" if board.final else f"provisional, counted until {board.counted_until:%H:%M}"
    console.print(board_table(title, f"{state}; built {board.updated_at:%Y-%m-%d %H:%M} UTC",
                              board.entries, by))


def board_table(title: str, caption: str, entries: list[Ranked], by: Granularity) -> Table:
    table = Table(title=title, caption=caption)
    table.add_column("#", justify="right")
    table.add_column("product")
    if by is not Granularity.PRODUCT:
        table.add_column("material")
    if by is Granularity.VARIANT:
        table.add_column("seller")
        table.add_column("variant", justify="right")
    table.add_column("quantity", justify="right")
    table.add_column("revenue (USD)", justify="right")
    for r in entries:
        i = r.item
        cells = [str(r.rank), i.product_name]
        if by is not Granularity.PRODUCT:
            cells.append(i.material or "")
        if by is Granularity.VARIANT:
            cells += [i.seller or "-", str(i.variant_id)]
        table.add_row(*cells, f"{i.quantity:,}", f"{i.revenue_usd:,.2f}")
    return table
