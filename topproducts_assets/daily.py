"""Daily leaderboards: one partition per UTC day, computed from the MySQL ledger.

- ``daily_leaderboards`` (daily partitions, UTC): a day's top N by quantity and revenue,
  globally and per country, at the three granularities, written to Cassandra
  (``daily_leaderboard``, one partition read per board); see ``docs/daily.md``.
- checks, per partition: ``equals_mysql`` (every board equals MySQL's own SQL ranking of the
  day) and ``agrees_with_stream`` (the current day: its totals equal the stream's panes).
- schedules: ``daily_leaderboards_schedule`` builds yesterday at 00:15 UTC;
  ``daily_leaderboards_final_schedule`` builds the day before yesterday at 00:45 UTC,
  after its cancellation cut-off (the day's end + 1 day), so its boards are final.

A backfill (select days in the UI, "Materialize selected") runs one run per day; re-running a
day writes the same rows.

(No ``from __future__ import annotations``: Dagster reads annotations at runtime.)
"""

import hashlib
from datetime import date, datetime, timedelta

import dagster as dg

from topproducts import daily
from topproducts.leaderboards import daily as rule
from topproducts_assets import resources
from topproducts_assets.resources import (
    CassandraResource,
    KafkaResource,
    MySQLResource,
    settings_of,
)
from topproducts_assets.shop import ORDER_EVENTS, OWNERS

GROUP = "leaderboards"

# The first day with partitions. The demo shop's orders start on its first `make demo`
# (November 2026); October 2026 leaves room for a month of history placed in the past
# (`topproducts.shop.history`, the 30-day backfill measurement). A fixed date, not a
# setting: a partitions definition must be the same for the webserver, the daemon and every
# run, and earlier days would only hold empty boards.
FIRST_DAY = "2026-10-01"

# UTC days; end_offset=1 adds the current day, so today's boards can be built (provisional:
# up to the last pane boundary) and cross-checked against the stream.
DAILY = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)

# A backfill starts up to 10 runs at once (Dagster's default queue); on a small, busy machine
# a Cassandra connection (5 s timeout) can time out under that load: retry the step (a day
# is idempotent) after about 20, 40 and 80 s before failing the partition.
RETRY = dg.RetryPolicy(max_retries=3, delay=20, backoff=dg.Backoff.EXPONENTIAL,
                       jitter=dg.Jitter.PLUS_MINUS)


def boards_version(boards: list[rule.DayBoard]) -> str:
    """A digest of what the day's boards show: equal when a re-run wrote the same rows."""
    digest = hashlib.sha256()
    for b in boards:
        for entry in rule.entries_of(b.entries):
            digest.update(f"|{b.metric}/{b.by}/{b.scope}:{entry}".encode())
    return digest.hexdigest()[:16]


@dg.asset(
    partitions_def=DAILY, deps=[ORDER_EVENTS], group_name=GROUP, owners=OWNERS,
    kinds={"mysql", "cassandra"}, retry_policy=RETRY,
    description="Top products of one UTC day by units and by revenue, globally and per "
                "country, ranked by product x material, product and variant, from the MySQL "
                "ledger (orders confirmed that day and not cancelled before the day's end + "
                "1 day). Cassandra tables daily_leaderboard (one row per board) and "
                "daily_totals. Re-running a day writes the same rows.",
    metadata={"cancellation_window": str(rule.CANCELLATION_WINDOW), "first_day": FIRST_DAY},
)
def daily_leaderboards(context: dg.AssetExecutionContext, mysql: MySQLResource,
                       cassandra: CassandraResource) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    report = daily.build_day(settings_of(mysql, cassandra), cassandra.store(), day)
    span = report.span
    context.log.info(f"{day}: {report.units} units, {report.revenue_usd} USD, counted until "
                     f"{span.until:%Y-%m-%d %H:%M} UTC, {'final' if span.final else 'provisional'}")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(boards_version(report.boards)),
        metadata={
            "units": report.units,
            "revenue_usd": float(report.revenue_usd),
            "variant_totals": report.variant_totals,
            "boards": len(report.boards),
            "leader_by_revenue": report.leader or "no sales",
            "counted_until": span.until.isoformat(),
            "cancellations_counted_until": span.cutoff.isoformat(),
            "final": span.final,
        })


def _result(outcome: daily.CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN if outcome.warn_only else dg.AssetCheckSeverity.ERROR,
        description=outcome.description,
        metadata={k: dg.MetadataValue.md(v) if k == "first_differences" else v
                  for k, v in outcome.metadata.items()})


@dg.asset_check(asset=daily_leaderboards, name="equals_mysql", partitions_def=DAILY,
                retry_policy=RETRY,
                description="Every board of the day equals MySQL's own ranking of the day "
                            "(roll-up and ROW_NUMBER() in SQL, same tie rule), for what the day "
                            "counted.")
def equals_mysql(context: dg.AssetCheckExecutionContext, mysql: MySQLResource,
                 cassandra: CassandraResource) -> dg.AssetCheckResult:
    store = cassandra.store(create=False)  # the asset created the tables
    return _result(daily.check_against_sql(settings_of(mysql, cassandra), store,
                                           date.fromisoformat(context.partition_key)))


@dg.asset_check(asset=daily_leaderboards, name="agrees_with_stream", partitions_def=DAILY,
                retry_policy=RETRY,
                description="The current day: its exact totals equal the stream's 5-minute "
                            "panes summed over the same span (batch path == streaming path). "
                            "Other days pass with 'compared: false'.")
def agrees_with_stream(context: dg.AssetCheckExecutionContext, mysql: MySQLResource,
                       kafka: KafkaResource, cassandra: CassandraResource
                       ) -> dg.AssetCheckResult:
    store = cassandra.store(create=False)
    return _result(daily.check_against_stream(settings_of(mysql, kafka, cassandra), store,
                                              date.fromisoformat(context.partition_key)))


build_daily_leaderboards = dg.define_asset_job(
    "build_daily_leaderboards",
    selection=(dg.AssetSelection.assets(daily_leaderboards)
               | dg.AssetSelection.checks_for_assets(daily_leaderboards)),
    description="Build one day's leaderboards from the MySQL ledger and check them.")


def partition_days_back(tick: datetime, days_back: int) -> str:
    """The partition a tick builds: the UTC day ``days_back`` days before the tick's."""
    return (tick.date() - timedelta(days=days_back)).isoformat()


def _daily_schedule(name: str, cron: str, days_back: int, description: str
                    ) -> dg.ScheduleDefinition:
    @dg.schedule(name=name, job=build_daily_leaderboards, cron_schedule=cron,
                 execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=description)
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        key = partition_days_back(context.scheduled_execution_time, days_back)
        return dg.RunRequest(run_key=f"{name}:{key}", partition_key=key)

    return _schedule


daily_leaderboards_schedule = _daily_schedule(
    "daily_leaderboards_schedule", "15 0 * * *", 1,
    "00:15 UTC: build the leaderboards of yesterday (cancellations so far retract).")
daily_leaderboards_final_schedule = _daily_schedule(
    "daily_leaderboards_final_schedule", "45 0 * * *", 2,
    "00:45 UTC: build the day before yesterday again, past its cut-off: final boards.")

ASSETS = [daily_leaderboards]
ASSET_CHECKS = [equals_mysql, agrees_with_stream]

defs = dg.Definitions(
    assets=ASSETS, asset_checks=ASSET_CHECKS, jobs=[build_daily_leaderboards],
    schedules=[daily_leaderboards_schedule, daily_leaderboards_final_schedule],
    resources=resources.RESOURCES,
)
