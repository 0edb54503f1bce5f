"""The Cassandra leaderboards as observable assets, with their checks.

The stream (outside Dagster) writes the leaderboards; Dagster observes them:
each observation records row counts, the current leader and its value, the last
update and the stream's lag, with a data version that changes only when the
leaderboard changes. Checks: freshness (a confirmed order shows within the
configured time), reconciliation (totals equal MySQL's ground truth) and rank
sanity (ranks 1..N, values non-increasing, no item twice, equal to the top N of
the exact totals).

(No ``from __future__ import annotations``: Dagster reads annotations at runtime.)
"""

import hashlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from topproducts import monitor, reconcile
from topproducts.countries import GLOBAL_SCOPE, SCOPES
from topproducts.leaderboards.ranking import (
    ALL_TIME,
    DEFAULT_GRANULARITY,
    EPOCH,
    Granularity,
    Metric,
    Ranked,
    rank,
)
from topproducts.leaderboards.store import LeaderboardStore
from topproducts.settings import Settings
from topproducts.shop.schema import Tables
from topproducts.shop.sql import aware_utc, naive_utc
from topproducts_assets import resources
from topproducts_assets.resources import StreamResource
from topproducts_assets.shop import OWNERS
from topproducts_assets.streaming import LEADERBOARD_STREAM

GROUP = "leaderboards"


@dataclass(frozen=True)
class Board:
    """One observable leaderboard asset: a metric over all-time or sliding windows.

    Each asset covers the three granularities (product x material, product, variant):
    they are written together by the same batch, so they share freshness and lineage;
    four boxes that say what is ranked in their metadata read better in the UI than
    twelve that differ only by the row key.
    """

    metric: Metric
    windowed: bool

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(f"leaderboard_{self.metric.value}_{self.span}")

    @property
    def span(self) -> str:
        return "windowed" if self.windowed else "all_time"

    @property
    def spec(self) -> dg.AssetSpec:
        what = "units ordered" if self.metric is Metric.QUANTITY else "revenue in USD"
        when = ("in sliding windows (the current one is observed): a window counts the "
                "lines of orders confirmed in it and not cancelled before its end, and is "
                "final at its end + the lateness" if self.windowed
                else "since the beginning")
        totals = ("pane_totals and pane_tail_totals, summed per window" if self.windowed
                  else "item_totals")
        return dg.AssetSpec(
            self.key, deps=[LEADERBOARD_STREAM], group_name=GROUP, owners=OWNERS,
            kinds={"cassandra"},
            description=f"Top products by {what} {when}, globally and per country, "
                        "ranked by product x material (default), product and variant "
                        f"(Cassandra table leaderboard; exact variant totals in {totals}).",
            metadata={"metric": self.metric.value, "span": self.span,
                      "granularities": ", ".join(g.value for g in Granularity)},
        )


BOARDS = [Board(m, w) for w in (False, True) for m in (Metric.QUANTITY, Metric.REVENUE)]

DEAD_LETTERS = dg.AssetSpec(
    "dead_letter_events", deps=[LEADERBOARD_STREAM], group_name=GROUP, owners=OWNERS,
    kinds={"cassandra"},
    description="Messages the stream rejected (not JSON, wrong types, unknown event type, "
                "negative quantity, unknown currency...), each with its reason and its "
                "topic/partition/offset (Cassandra table dead_letters). Nothing is lost: "
                "they are kept here and the stream goes on.",
)


def observed_window(store: LeaderboardStore, board: Board) -> str | None:
    """The window id a board shows: ``all``, or the newest window with data (None: none)."""
    if not board.windowed:
        return ALL_TIME
    newest = store.windows(GLOBAL_SCOPE, limit=1)
    return newest[0].id if newest else None


def data_version(wid: str | None, boards: dict[str, list[Ranked]]) -> str:
    """A digest of what the leaderboard shows: changes only when an entry changes."""
    digest = hashlib.sha256(str(wid).encode())
    for scope in sorted(boards):
        for r in boards[scope]:
            digest.update(f"|{scope}:{r.rank}:{r.item.key}:{r.value}".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Observation:
    key: dg.AssetKey
    data_version: str
    metadata: dict


def observe_board(store: LeaderboardStore, board: Board, health: monitor.Health) -> Observation:
    wid = observed_window(store, board)
    tops = {f"{by}/{s}": store.top(board.metric, s, wid, by=by)
            for by in Granularity for s in SCOPES} if wid else {}
    entries = {s: top.entries for s, top in tops.items()}
    updated = [t.updated_at for t in tops.values() if t.updated_at]
    default = entries.get(f"{DEFAULT_GRANULARITY}/{GLOBAL_SCOPE}")
    leader = default[0] if default else None
    return Observation(
        key=board.key,
        data_version=data_version(wid, entries),
        metadata={
            "window": wid or "none yet",
            "rows": sum(len(e) for e in entries.values()),
            "scopes_with_data": sum(1 for e in entries.values() if e),
            "leader": leader.item.name if leader else "none yet",
            "leader_value": float(leader.value) if leader else 0.0,
            "last_update": max(updated).isoformat() if updated else "never",
            "stream_state": health.state.value,
            "stream_lag_events": health.lag,
        },
    )


def observe_dead_letters(store: LeaderboardStore, settings: Settings) -> Observation:
    """Today's (UTC) rejected messages: how many, and the latest reasons."""
    topic = settings.topic("orders")
    today = datetime.now(UTC).date()
    count = store.count_dead_letters(topic, today)
    latest = sorted(store.dead_letters(topic, today, limit=200),
                    key=lambda d: d.kafka_timestamp, reverse=True)[:5]
    reasons = "\n".join(f"- {d.kafka_timestamp:%H:%M:%S} partition {d.partition} offset "
                         f"{d.offset}: {d.reason}" for d in latest) or "none"
    return Observation(
        key=DEAD_LETTERS.key, data_version=f"{today}:{count}",
        metadata={"rejected_today": count, "day": str(today), "topic": topic,
                  "latest": dg.MetadataValue.md(reasons)},
    )


def observe_all(store: LeaderboardStore, settings: Settings, health: monitor.Health
                ) -> list[Observation]:
    return [*(observe_board(store, board, health) for board in BOARDS),
            observe_dead_letters(store, settings)]


@dg.multi_observable_source_asset(
    specs=[*(b.spec for b in BOARDS), DEAD_LETTERS], name="cassandra_leaderboards",
    description="Reads the leaderboards from Cassandra and records what they show; the "
                "observe_leaderboards job does so every 5 minutes, with the checks.",
)
def cassandra_leaderboards(stream: StreamResource):
    health, _ = stream.health()
    for o in observe_all(stream.cassandra.store(), stream.settings(), health):
        yield dg.ObserveResult(asset_key=o.key, data_version=dg.DataVersion(o.data_version),
                               metadata=o.metadata)


# -- checks ----------------------------------------------------------------------

def rank_problems(entries: list[Ranked], totals_top: list[Ranked], top_n: int) -> list[str]:
    """What is wrong with one leaderboard partition (empty list: nothing)."""
    problems = []
    ranks = [r.rank for r in entries]
    if ranks != list(range(1, len(entries) + 1)):
        problems.append(f"ranks are {ranks}, not 1..{len(entries)}")
    if len(entries) > top_n:
        problems.append(f"{len(entries)} entries, more than top {top_n}")
    values = [r.value for r in entries]
    if any(a < b for a, b in itertools.pairwise(values)):
        problems.append("values increase somewhere")
    names = [r.item.name for r in entries]
    if len(set(names)) != len(names):
        problems.append("two rows have the same name")
    expected = [(r.rank, r.item.key, r.value) for r in totals_top]
    if [(r.rank, r.item.key, r.value) for r in entries] != expected:
        problems.append("differs from the top N of the exact totals")
    return problems


def check_ranks(store: LeaderboardStore, settings: Settings, board: Board
                ) -> dg.AssetCheckResult:
    wid = observed_window(store, board)
    problems: dict[str, list[str]] = {}
    checked = 0
    if wid is not None:
        for by in Granularity:
            totals = store.totals_many([(s, wid) for s in SCOPES], by)
            for scope in SCOPES:
                entries = store.top(board.metric, scope, wid, by=by).entries
                checked += len(entries)
                found = rank_problems(entries, rank(totals[(scope, wid)], board.metric,
                                                    settings.top_n), settings.top_n)
                if found:
                    problems[f"{by}/{scope}"] = found
    return dg.AssetCheckResult(
        passed=not problems,
        description="every granularity: ranks 1..N, non-increasing, unique names, equal to "
                    "the top N of the exact totals",
        metadata={"window": wid or "none yet", "entries_checked": checked,
                  "problems": dg.MetadataValue.json(problems)},
    )


def oldest_unshown_order(mysql: resources.MySQLResource, since: datetime,
                         window_start: datetime | None) -> datetime | None:
    """The earliest counting change in MySQL (confirmation, or cancellation of a confirmed
    order) after ``since``: if it is old, the leaderboard is stale."""
    table = Tables.of(mysql.settings()).orders
    naive = [naive_utc(since), naive_utc(window_start or EPOCH)]
    with mysql.connection() as conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT MIN(confirmed_at) FROM {table} WHERE confirmed_at > %s "
            f"AND confirmed_at >= %s", naive)
        confirmed = cur.fetchone()[0]
        cur.execute(
            f"SELECT MIN(cancelled_at) FROM {table} WHERE confirmed_at IS NOT NULL "
            f"AND cancelled_at > %s AND confirmed_at >= %s", naive)
        cancelled = cur.fetchone()[0]
    times = [aware_utc(t) for t in (confirmed, cancelled) if t is not None]
    return min(times, default=None)


def check_freshness(stream: StreamResource, board: Board) -> dg.AssetCheckResult:
    now = datetime.now(UTC)
    limit = timedelta(seconds=stream.settings().leaderboard_freshness_seconds)
    store = stream.cassandra.store()
    wid = observed_window(store, board)
    window = next((w for w in store.windows(GLOBAL_SCOPE, 1)), None) if board.windowed else None
    updated = store.top(board.metric, GLOBAL_SCOPE, wid).updated_at if wid else None
    since = updated or datetime(1970, 1, 1, tzinfo=UTC)
    pending = oldest_unshown_order(stream.mysql, since, window.start if window else None)
    stale_for = (now - pending) if pending else timedelta(0)
    passed = stale_for <= limit
    return dg.AssetCheckResult(
        passed=passed,
        description=f"every confirmed order older than {limit.total_seconds():.0f}s is shown",
        metadata={
            "last_update": updated.isoformat() if updated else "never",
            "oldest_order_not_shown": pending.isoformat() if pending else "none",
            "waiting_seconds": round(stale_for.total_seconds(), 1),
            "limit_seconds": limit.total_seconds(),
        },
    )


def check_reconciliation(settings: Settings, store: LeaderboardStore, board: Board
                         ) -> dg.AssetCheckResult:
    report = reconcile.run(settings, "windows" if board.windowed else ALL_TIME, store=store)
    return dg.AssetCheckResult(
        passed=report.passed,
        # No quiet moment is not a wrong number: warn. A difference is an error.
        severity=(dg.AssetCheckSeverity.ERROR if report.consistent
                  else dg.AssetCheckSeverity.WARN),
        description=report.summary(),
        metadata={
            "compared": report.compared,
            "windows": report.windows,
            "mismatches": len(report.mismatches),
            "first_mismatches": dg.MetadataValue.md(
                "\n".join(f"- {m}" for m in report.mismatches[:10]) or "none"),
            "lag_events": report.lag,
            "unpublished_events": report.unpublished,
            # facts the stream recorded as late (they came after windows they belong to
            # were final: see late_facts) and the window totals they explain
            "late_facts": report.late_facts,
            "explained_by_late_facts": report.explained,
            "first_late_facts": dg.MetadataValue.md(
                "\n".join(f"- {f}" for f in report.first_late) or "none"),
        },
    )


def _checks_for(board: Board) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset=board.key, name="rank_sanity",
                    description="Ranks 1..N, values non-increasing, no item twice, and equal "
                                "to the top N of the exact totals.")
    def rank_sanity(cassandra: resources.CassandraResource) -> dg.AssetCheckResult:
        return check_ranks(cassandra.store(), cassandra.settings(), board)

    @dg.asset_check(asset=board.key, name="freshness",
                    description="Every order confirmed (or cancelled) more than "
                                "TOPPRODUCTS_LEADERBOARD_FRESHNESS_SECONDS ago is shown.")
    def freshness(stream: StreamResource) -> dg.AssetCheckResult:
        return check_freshness(stream, board)

    @dg.asset_check(asset=board.key, name="reconciliation",
                    description="Cassandra's exact totals equal a SQL query over MySQL, "
                                "for every scope (and every recent window).")
    def reconciliation(stream: StreamResource) -> dg.AssetCheckResult:
        return check_reconciliation(stream.settings(), stream.cassandra.store(), board)

    return [rank_sanity, freshness, reconciliation]


@dg.asset_check(asset=DEAD_LETTERS.key, name="no_rejected_events_today",
                description="Warns when the stream rejected messages today (UTC); they are "
                            "kept with their reason, so this is a warning, not an error.")
def no_rejected_events_today(kafka: resources.KafkaResource,
                             cassandra: resources.CassandraResource) -> dg.AssetCheckResult:
    seen = observe_dead_letters(cassandra.store(), resources.settings_of(kafka, cassandra))
    count = seen.metadata["rejected_today"]
    return dg.AssetCheckResult(
        passed=count == 0, severity=dg.AssetCheckSeverity.WARN,
        description=f"{count} messages rejected today" if count else "no message rejected",
        metadata=seen.metadata)


CHECKS = [*(c for b in BOARDS for c in _checks_for(b)), no_rejected_events_today]

ASSETS = [cassandra_leaderboards]
ASSET_CHECKS = CHECKS

defs = dg.Definitions(assets=ASSETS, asset_checks=ASSET_CHECKS, resources=resources.RESOURCES)
