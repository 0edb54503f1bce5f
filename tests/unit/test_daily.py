"""Daily leaderboards, pure: the day's span and cut-off, boards from variant totals, the
comparisons, and the answers to a bad day (API helper, CLI) before any service is asked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner

from services.errors import ApiError
from services.routes.daily import day_of
from topproducts.cli import cli
from topproducts.countries import GLOBAL_SCOPE
from topproducts.errors import ConfigError
from topproducts.leaderboards import daily as rule
from topproducts.leaderboards.ranking import Granularity, ItemTotal, Metric
from topproducts_assets.daily import boards_version, partition_days_back

DAY = date(2026, 11, 24)
SLIDE = timedelta(minutes=5)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC)


def variant(v: int, product: int, material: str, qty: int, revenue: str) -> ItemTotal:
    return ItemTotal(product_id=product, product_name=f"P{product}", material=material,
                     variant_id=v, seller=f"S{v}", quantity=qty, revenue_usd=Decimal(revenue))


def test_the_cut_off_is_the_end_of_the_day_plus_one_day() -> None:
    assert rule.day_start(DAY) == at(DAY, 0)
    assert rule.day_end(DAY) == at(date(2026, 11, 25), 0)
    assert rule.cutoff(DAY) == at(date(2026, 11, 26), 0)
    assert not rule.is_final(DAY, at(date(2026, 11, 25), 23, 59))
    assert rule.is_final(DAY, at(date(2026, 11, 26), 0))


@pytest.mark.parametrize(("now", "until"), [
    (at(DAY, 13, 7), at(DAY, 13, 5)),  # the current day: the last pane boundary
    (at(DAY, 13, 5), at(DAY, 13, 5)),
    (at(date(2026, 11, 25), 0, 15), at(date(2026, 11, 25), 0)),  # a past day: all of it
    (at(date(2026, 11, 23), 9), at(DAY, 0)),  # a future day: nothing yet
])
def test_counted_until(now: datetime, until: datetime) -> None:
    assert rule.counted_until(DAY, now, SLIDE) == until


@pytest.mark.parametrize("text", ["2026-11-31", "24/11/2026", "2026-11-24T00:00", "yesterday",
                                  "2026-1-5", ""])
def test_a_bad_day_says_what_a_day_looks_like(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a day: .* \(use YYYY-MM-DD, e\.g\. 2026-11-24\)"):
        rule.parse_day(text)
    with pytest.raises(ApiError) as raised:
        day_of(text, "day")
    assert (raised.value.status, raised.value.field) == (422, "day")


def test_days_between() -> None:
    assert rule.days_between(DAY, DAY + timedelta(days=2)) == [
        DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert rule.days_between(DAY, DAY - timedelta(days=1)) == []


def test_boards_of_a_day_roll_up_rank_and_sum_countries_into_global() -> None:
    totals = rule.with_global({
        "IN": [variant(11, 1, "Oak", 3, "30.00"), variant(12, 1, "Oak", 1, "50.00"),
               variant(21, 2, "Steel", 2, "70.00")],
        "GB": [variant(11, 1, "Oak", 2, "20.00")],
    })
    assert [(i.variant_id, i.quantity, i.revenue_usd) for i in totals[GLOBAL_SCOPE]] == [
        (11, 5, Decimal("50.00")), (12, 1, Decimal("50.00")), (21, 2, Decimal("70.00"))]
    boards = {(b.metric, b.by, b.scope): b.entries
              for b in rule.day_boards(totals, [GLOBAL_SCOPE, "IN", "GB", "US"], 10)}
    assert len(boards) == 4 * len(Metric) * len(Granularity)
    glob = rule.entries_of(boards[(Metric.REVENUE, Granularity.PRODUCT_MATERIAL, GLOBAL_SCOPE)])
    assert glob == [(1, (1, "Oak", 0), Decimal("100.00")), (2, (2, "Steel", 0), Decimal("70.00"))]
    assert rule.entries_of(boards[(Metric.QUANTITY, Granularity.VARIANT, "IN")])[0] == (
        1, (1, "Oak", 11), Decimal(3))
    assert boards[(Metric.QUANTITY, Granularity.PRODUCT, "US")] == []  # no sales: empty board


def test_differences_name_the_board_and_the_first_rank() -> None:
    key = (Metric.QUANTITY, Granularity.PRODUCT, "IN")
    want = {key: [(1, (1, "", 0), Decimal(5)), (2, (2, "", 0), Decimal(3))]}
    got = {key: [(1, (1, "", 0), Decimal(5)), (2, (3, "", 0), Decimal(3))]}
    assert rule.differences(want, want) == []
    (line,) = rule.differences(want, got)
    assert line.startswith("quantity/product/IN: from rank 2 expected [(2, (2, '', 0)")


def test_totals_differences_treat_missing_as_zero() -> None:
    a = {"IN": [variant(11, 1, "Oak", 3, "30.00")]}
    assert rule.totals_differences(a, {"IN": [variant(11, 1, "Oak", 3, "30.00")]}) == []
    assert rule.totals_differences(a, {}) == [
        "IN/variant 11: expected 3 units, 30.00 USD; got 0 units, 0 USD"]


def test_the_data_version_changes_only_with_the_boards() -> None:
    totals = rule.with_global({"IN": [variant(11, 1, "Oak", 3, "30.00")]})
    one = rule.day_boards(totals, [GLOBAL_SCOPE, "IN"], 10)
    assert boards_version(one) == boards_version(rule.day_boards(totals, [GLOBAL_SCOPE, "IN"], 10))
    other = rule.with_global({"IN": [variant(11, 1, "Oak", 4, "30.00")]})
    assert boards_version(one) != boards_version(rule.day_boards(other, [GLOBAL_SCOPE, "IN"], 10))


def test_schedules_build_yesterday_and_the_day_before() -> None:
    tick = at(date(2026, 11, 25), 0, 15)
    assert partition_days_back(tick, 1) == "2026-11-24"
    assert partition_days_back(tick, 2) == "2026-11-23"


@pytest.mark.parametrize(("args", "message"), [
    (["--day", "2026-13-01"], "not a day: '2026-13-01'"),
    (["--day", "2026-11-24", "--window", "current"], "--day and --window"),
])
def test_cli_refuses_a_bad_day_before_any_service_is_asked(args: list[str], message: str
                                                           ) -> None:
    result = CliRunner().invoke(cli, ["leaderboard", *args])
    assert isinstance(result.exception, ConfigError)  # main() prints it as one line
    assert message in str(result.exception)
