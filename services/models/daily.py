"""Daily leaderboards: the top N of one UTC day, built from the MySQL ledger by Dagster."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from services.models.common import Out, UtcTime
from services.models.leaderboards import Entry, Granularity, Metric, Scope


class DailyLeaderboard(Out):
    metric: Metric
    by: Granularity
    scope: Scope
    day: dt.date = Field(description="The UTC day.", examples=["2026-11-24"])
    materialized: bool = Field(description="False when the day was never built (no entries).")
    final: bool = Field(description="True once the day's cancellation cut-off (the day's end "
                                    "+ 1 day) had passed when it was built: it no longer "
                                    "changes.")
    counted_until: UtcTime | None = Field(
        description="Orders confirmed before this count (the day's end, or for the current "
                    "day the last 5-minute boundary when it was built).")
    currency: str = Field(description="Reporting currency of revenue values.", examples=["USD"])
    updated_at: UtcTime | None = Field(description="When the day was last built.")
    entries: list[Entry]


class DailyLeaderboards(Out):
    """Several days' boards of one (metric, granularity, scope), oldest first."""

    metric: Metric
    by: Granularity
    scope: Scope
    days: list[DailyLeaderboard]
