"""Daily leaderboards (open reads): the top N of one UTC day, or of each day in a range.

The boards are built by the Dagster asset ``daily_leaderboards`` from the MySQL ledger
(``docs/daily.md``); each is one Cassandra partition read, straight from the store (they
change at most a few times a day, so they skip the live boards' memory cache).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.deps import SettingsDep, Store
from services.errors import ApiError, responses
from services.models.daily import DailyLeaderboard, DailyLeaderboards
from services.models.leaderboards import Metric, Scope
from services.patterns import DAY, DAY_RE
from services.queries.leaderboards import entry
from topproducts.countries import GLOBAL_SCOPE
from topproducts.leaderboards import DEFAULT_GRANULARITY, Granularity
from topproducts.leaderboards.daily import days_between, parse_day
from topproducts.leaderboards.store import DailyLeaderboard as StoredDay

router = APIRouter(prefix="/leaderboards", tags=["leaderboards"])

MAX_DAYS = 92  # a range is one read per day: about a quarter at most
DayText = Annotated[str, Path(description="A UTC day, `YYYY-MM-DD`.", examples=["2026-11-24"],
                              json_schema_extra={"pattern": DAY})]
ScopeParam = Annotated[Scope, Query(description="`GLOBAL` or a country code.")]
ByParam = Annotated[Granularity, Query(
    description="What one ranked entry is: `product_material` (default), `product` or "
                "`variant`.")]
LimitParam = Annotated[int, Query(ge=1, le=100, description="How many ranks.")]
GLOBAL = Scope(GLOBAL_SCOPE)
_DAY_SCHEMA = {"pattern": DAY, "examples": ["2026-11-24"]}


def day_of(text: str, field: str) -> dt.date:
    """A ``YYYY-MM-DD`` parameter (:data:`services.patterns.DAY`, its pattern), or a 422 that
    says what a day looks like."""
    try:
        if not DAY_RE.fullmatch(text):
            raise ValueError(f"not a day: {text!r} (use YYYY-MM-DD, e.g. 2026-11-24)")
        return parse_day(text)
    except ValueError as exc:
        raise ApiError(422, "invalid_input", str(exc), field) from None


def model(board: StoredDay, currency: str, limit: int) -> DailyLeaderboard:
    return DailyLeaderboard(
        metric=board.metric, by=board.by, scope=Scope(board.scope), day=board.day,
        materialized=board.materialized, final=board.final,
        counted_until=board.counted_until, currency=currency, updated_at=board.updated_at,
        entries=[entry(board.metric, r) for r in board.entries[:limit]])


@router.get("/{metric}/daily/{day}", summary="Top N products of one UTC day",
            response_model=DailyLeaderboard, responses=responses(404))
def daily_top(metric: Metric, day: DayText, settings: SettingsDep, store: Store,
              by: ByParam = DEFAULT_GRANULARITY, scope: ScopeParam = GLOBAL,
              limit: LimitParam = 10) -> DailyLeaderboard:
    when = day_of(day, "day")
    board = store.daily_top(metric, scope.value, when, by=by)
    if not board.materialized:
        raise ApiError(404, "not_found", f"no daily leaderboards for {when}: build the day "
                       f"(Dagster asset daily_leaderboards, partition {when})", "day")
    return model(board, settings.reporting_currency, limit)


@router.get("/{metric}/daily", summary="Top N products of each UTC day in a range",
            response_model=DailyLeaderboards, responses=responses())
def daily_range(metric: Metric, settings: SettingsDep, store: Store,
                start: Annotated[str, Query(alias="from", description="First UTC day, "
                                            "`YYYY-MM-DD`.", json_schema_extra=_DAY_SCHEMA)],
                end: Annotated[str, Query(alias="to", description="Last UTC day (included), "
                                          "`YYYY-MM-DD`: not before `from`, at most 92 days "
                                          "in all.", json_schema_extra=_DAY_SCHEMA)],
                by: ByParam = DEFAULT_GRANULARITY, scope: ScopeParam = GLOBAL,
                limit: LimitParam = 10) -> DailyLeaderboards:
    first, last = day_of(start, "from"), day_of(end, "to")
    days = days_between(first, last)
    if not days:
        raise ApiError(422, "invalid_input", f"'to' ({last}) is before 'from' ({first})", "to")
    if len(days) > MAX_DAYS:
        raise ApiError(422, "invalid_input", f"{len(days)} days asked; at most {MAX_DAYS} "
                       "per request", "to")
    boards = store.daily_tops(metric, scope.value, days, by=by)
    return DailyLeaderboards(metric=metric, by=by, scope=scope, days=[
        model(b, settings.reporting_currency, limit) for b in boards])
