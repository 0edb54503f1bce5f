"""Daily leaderboards, for real: days of orders placed in the past through the shop's own code,
built by Dagster (the test harness, then the real webserver and daemon through GraphQL),
compared with MySQL, rebuilt (same rows), and read through the API and the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest

from tests.support.ports import free_port
from tests.support.sandbox import new_name, prepare, sandbox
from topproducts import daily
from topproducts.leaderboards import daily as rule
from topproducts.leaderboards.store import open_store
from topproducts.settings import Settings
from topproducts.shop import history
from topproducts.stack import dagster
from topproducts_assets import daily as daily_assets
from topproducts_assets.resources import CassandraResource, KafkaResource, MySQLResource, compose

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)  # before its cut-off: a cancellation now retracts
CLI = str(Path(sys.executable).parent / "topproducts")  # the console script
CLOSED = [TODAY - timedelta(days=n) for n in (5, 4, 3)]  # past their cut-off: final


@pytest.fixture(scope="module")
def shop(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Settings]:
    """A sandboxed shop with orders (and same-day cancellations) on four past days."""
    with sandbox(running_stack, new_name("tday"),
                 state_dir=tmp_path_factory.mktemp("daily-state")) as settings:
        prepare(settings, customers=60, products=20)
        for k, day in enumerate([*CLOSED, YESTERDAY]):
            report = history.place_on_day(settings, day, 120, seed=k, batch_size=30)
            assert report.confirmed > 50, report
        yield settings


def resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return compose(MySQLResource(database_prefix=settings.mysql_database_prefix),
                   KafkaResource(topic_prefix=settings.kafka_topic_prefix),
                   CassandraResource(keyspace=settings.cassandra_keyspace))


def materialize(settings: Settings, day: date) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [daily_assets.daily_leaderboards, *daily_assets.ASSET_CHECKS],
        resources=resources(settings), partition_key=day.isoformat())
    assert result.success
    return result


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def stored(settings: Settings, day: date) -> dict:
    with open_store(settings) as store:
        return daily.stored_boards(store, day)


def from_mysql(settings: Settings, day: date) -> dict:
    """What MySQL alone ranks for a day (SQL roll-up and ROW_NUMBER())."""
    span = daily.Span.of(day, datetime.now(UTC), settings)
    return daily.sql_boards(settings, span)


def version(result: dg.ExecuteInProcessResult) -> str | None:
    (event,) = result.get_asset_materialization_events()
    return event.step_materialization_data.materialization.tags.get("dagster/data_version")


def test_two_days_equal_mysql_and_a_rebuild_writes_the_same_rows(shop: Settings) -> None:
    days = CLOSED[:2]
    first = {d: materialize(shop, d) for d in days}
    for d in days:
        assert checks(first[d]) == {"equals_mysql": True, "agrees_with_stream": True}
        boards = stored(shop, d)
        assert boards == from_mysql(shop, d)
        assert sum(len(e) for e in boards.values()) > 100  # every scope and granularity
    before = {d: stored(shop, d) for d in days}
    again = {d: materialize(shop, d) for d in days}
    for d in days:
        assert stored(shop, d) == before[d] == from_mysql(shop, d)
        assert version(again[d]) == version(first[d])
        assert checks(again[d])["equals_mysql"]


def test_a_cancellation_after_the_cut_off_leaves_the_closed_day_as_it_was(shop: Settings
                                                                          ) -> None:
    day = CLOSED[2]
    materialize(shop, day)
    before = stored(shop, day)
    # three of the day's orders are cancelled after its cut-off (end of day + 1 day)
    orders = history.confirmed_orders(shop, day)
    late = rule.cutoff(day) + timedelta(hours=1)
    assert late < datetime.now(UTC)
    cancelled = history.cancel_on(shop, orders[:3], late).cancelled
    assert cancelled
    result = materialize(shop, day)
    assert checks(result)["equals_mysql"]
    assert stored(shop, day) == before  # final: the day does not move


def test_a_cancellation_before_the_cut_off_retracts(shop: Settings) -> None:
    materialize(shop, YESTERDAY)
    before = stored(shop, YESTERDAY)
    orders = history.confirmed_orders(shop, YESTERDAY)
    assert history.cancel_on(shop, orders, datetime.now(UTC)).cancelled == orders
    result = materialize(shop, YESTERDAY)
    assert checks(result)["equals_mysql"]
    after = stored(shop, YESTERDAY)
    assert after == from_mysql(shop, YESTERDAY) != before
    assert all(entries == [] for entries in after.values())  # every order of the day cancelled
    with open_store(shop) as store:
        board = store.daily_top(rule.Metric.QUANTITY, "GLOBAL", YESTERDAY)
    assert board.materialized and not board.final


# -- the real webserver and daemon: a backfill of three days, launched through GraphQL -------

BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
  }
}
"""

BACKFILL_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions
                               assetBackfillData { assetBackfillStatuses {
                                 __typename
                                 ... on AssetPartitionsStatusCounts { assetKey { path }
                                   numPartitionsTargeted numPartitionsMaterialized
                                   numPartitionsFailed } } } }
  }
}
"""

CHECK_EXECUTIONS = """
query Checks($asset: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $asset, checkName: $name, limit: 50) {
    status runId partition evaluation { severity description }
  }
}
"""


def graphql(settings: Settings, query: str, variables: dict) -> dict:
    response = httpx.post(dagster.graphql_url(settings), timeout=60,
                          json={"query": query, "variables": variables})
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def webserver(shop: Settings) -> Iterator[Settings]:
    settings = shop.replace(dagster_port=free_port())
    dagster.start(settings)
    try:
        yield settings
    finally:
        dagster.stop(settings)


def test_a_backfill_of_three_days_from_graphql_builds_and_checks_each_day(
        webserver: Settings) -> None:
    days = [d.isoformat() for d in CLOSED]
    started = time.monotonic()
    launched = graphql(webserver, BACKFILL, {"params": {
        "assetSelection": [{"path": ["daily_leaderboards"]}], "partitionNames": days,
        "title": "test: three days"}})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    deadline = time.monotonic() + 300
    while True:
        status = graphql(webserver, BACKFILL_STATUS, {"id": backfill_id})
        backfill = status["partitionBackfillOrError"]
        if backfill["status"] not in ("REQUESTED", "IN_PROGRESS"):
            break
        assert time.monotonic() < deadline, f"backfill still {backfill['status']}"
        time.sleep(2)
    print(f"backfill of 3 days: {time.monotonic() - started:.1f}s")
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    (counts,) = backfill["assetBackfillData"]["assetBackfillStatuses"]
    assert (counts["numPartitionsTargeted"], counts["numPartitionsMaterialized"],
            counts["numPartitionsFailed"]) == (3, 3, 0)
    asset = {"path": ["daily_leaderboards"]}
    for name in ("equals_mysql", "agrees_with_stream"):
        executions = graphql(webserver, CHECK_EXECUTIONS, {"asset": asset, "name": name})
        by_day = {e["partition"]: e["status"] for e in executions["assetCheckExecutions"]}
        assert {d: by_day.get(d) for d in days} == dict.fromkeys(days, "SUCCEEDED"), by_day
    for d in CLOSED:
        assert stored(webserver, d) == from_mysql(webserver, d)


# -- reads: the API and the CLI ------------------------------------------------------------

def test_api_and_cli_read_a_day_and_a_range(shop: Settings) -> None:
    from fastapi.testclient import TestClient

    from services.app import create_app

    day = CLOSED[0]
    materialize(shop, day)
    expected = from_mysql(shop, day)[(rule.Metric.REVENUE, rule.Granularity.PRODUCT, "GLOBAL")]
    with TestClient(create_app(shop)) as client:
        one = client.get(f"/leaderboards/revenue/daily/{day}",
                         params={"by": "product", "limit": 5})
        assert one.status_code == 200, one.text
        body = one.json()
        assert body["day"] == str(day) and body["final"] and body["materialized"]
        assert [(e["rank"], e["product_id"], e["value"]) for e in body["entries"]] == [
            (r, k[0], f"{v:.2f}") for r, k, v in expected[:5]]
        span = client.get("/leaderboards/revenue/daily",
                          params={"from": str(day - timedelta(days=1)), "to": str(day),
                                  "by": "product", "limit": 5})
        assert span.status_code == 200, span.text
        assert [(d["day"], d["materialized"]) for d in span.json()["days"]] == [
            (str(day - timedelta(days=1)), False), (str(day), True)]
        assert span.json()["days"][1]["entries"] == body["entries"]
        bad = client.get("/leaderboards/revenue/daily/2026-02-30")
        assert bad.status_code == 422
        assert bad.json()["error"] == {"code": "invalid_input", "field": "day",
                                       "message": "not a day: '2026-02-30' (use YYYY-MM-DD, "
                                                  "e.g. 2026-11-24)"}
        never = client.get(f"/leaderboards/revenue/daily/{day - timedelta(days=30)}")
        assert never.status_code == 404 and "daily_leaderboards" in never.text

    result = subprocess.run(
        [CLI, "leaderboard", "--metric", "revenue", "--by",
         "product", "--day", str(day)], env={**os.environ, **shop.to_env(), "COLUMNS": "200"},
        text=True, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert str(day) in result.stdout and "final" in result.stdout
    assert f"{expected[0][2]:,.2f}" in result.stdout, result.stdout
    bad = subprocess.run([CLI, "leaderboard", "--day", "24/11/2026"], text=True,
                         env={**os.environ, **shop.to_env()}, capture_output=True,
                         timeout=120, check=False)
    assert bad.returncode != 0
    assert bad.stderr.strip() == ("error: not a day: '24/11/2026' (use YYYY-MM-DD, "
                                  "e.g. 2026-11-24)")


def test_the_page_shows_a_past_day(shop: Settings, browser) -> None:
    from playwright.sync_api import expect

    from services.app import create_app
    from tests.support.serving import serving

    day = CLOSED[1]
    materialize(shop, day)
    expected = from_mysql(shop, day)[(rule.Metric.QUANTITY, rule.Granularity.PRODUCT, "GLOBAL")]
    with serving(create_app(shop)) as url:
        page = browser.new_page()
        page.goto(f"{url}/?metric=quantity&by=product&scope=GLOBAL")
        expect(page.locator(f"#window option[value='day:{day}']")).to_have_count(1)
        page.select_option("#window", f"day:{day}")
        rows = page.locator("#chart .row")
        expect(rows).to_have_count(len(expected))
        assert rows.locator(".value").all_text_contents() == [
            f"{int(v):,}" for _r, _k, v in expected]
        assert [int(p) for p in rows.evaluate_all("rs => rs.map(r => r.dataset.product)")] == [
            k[0] for _r, k, _v in expected]
        expect(page.locator("#board-title")).to_contain_text(f"{day} (UTC day)")
        expect(page.locator("#window-range")).to_contain_text("(final)")
        assert f"window=day%3A{day}" in page.url
        page.select_option("#window", "all")  # back to a live board
        expect(page.locator("#board-title")).to_contain_text("All time")
        page.close()
