"""Time a backfill of N days of daily leaderboards, launched as a person does from the UI.

    .venv/bin/python bench/bench_daily.py [--days 30] [--orders-per-day 1000] [--screenshot PATH]

A sandboxed shop at the demo's scale (1,000 customers, 200 products) gets ``--orders-per-day``
orders on each of the last ``--days`` days (before today, UTC) through the shop's own code
(``topproducts.shop.history``); a Dagster webserver + daemon is started for it on a free
port, and a backfill of those days of ``daily_leaderboards`` is launched through GraphQL
(the mutation the UI's "Materialize selected" sends). Prints the time until the backfill
completed and how many partitions passed their checks; with ``--screenshot`` saves the
asset's partitions page from headless Chromium. Everything is dropped at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.support.ports import free_port
from tests.support.sandbox import new_name, prepare, sandbox
from topproducts.settings import get_settings
from topproducts.shop import history
from topproducts.stack import dagster

BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  }
}"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}"""
FAILURES = """
{ runsOrError(filter: {statuses: [FAILURE]}) { ... on Runs { results { runId
  tags { key value }
  eventConnection { events { __typename
    ... on ExecutionStepFailureEvent { error { message cause { message } } } } } } } } }"""
CHECKS = """
query Checks($name: String!) {
  assetCheckExecutions(assetKey: {path: ["daily_leaderboards"]}, checkName: $name, limit: 500)
  { status partition }
}"""


def graphql(url: str, query: str, variables: dict) -> dict:
    response = httpx.post(url, json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    return response.json()["data"]


def screenshot(settings, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"http://{settings.dagster_host}:{settings.dagster_port}"
                  "/assets/daily_leaderboards?view=partitions")
        page.get_by_text("daily_leaderboards").first.wait_for(timeout=60_000)
        time.sleep(5)  # the partition bars and the check statuses load after the title
        skip = page.get_by_text("Skip", exact=True)  # the first-visit newsletter dialog
        if skip.count():
            skip.click()
        yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
        page.get_by_text(yesterday, exact=True).first.click()  # its metadata on the right
        time.sleep(3)
        page.screenshot(path=str(path))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--orders-per-day", type=int, default=1000)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(args.days, 0, -1)]
    with tempfile.TemporaryDirectory() as state, \
            sandbox(get_settings(), new_name("bday"), state_dir=Path(state)) as base:
        settings = base.replace(dagster_port=free_port())
        prepare(settings, customers=1000, products=200)
        started = time.monotonic()
        for k, day in enumerate(days):
            history.place_on_day(settings, day, args.orders_per_day, seed=k, batch_size=100)
        print(f"{args.days * args.orders_per_day:,} orders on {args.days} days placed in "
              f"{time.monotonic() - started:.0f}s")
        dagster.start(settings)
        try:
            url = dagster.graphql_url(settings)
            started = time.monotonic()
            launched = graphql(url, BACKFILL, {"params": {
                "assetSelection": [{"path": ["daily_leaderboards"]}],
                "partitionNames": [d.isoformat() for d in days],
                "title": f"{args.days} days"}})["launchPartitionBackfill"]
            backfill_id = launched["backfillId"]
            status = "REQUESTED"
            while status in ("REQUESTED", "IN_PROGRESS"):
                time.sleep(2)
                status = graphql(url, STATUS, {"id": backfill_id})[
                    "partitionBackfillOrError"]["status"]
            seconds = time.monotonic() - started
            passed = {name: sum(1 for e in graphql(url, CHECKS, {"name": name})[
                "assetCheckExecutions"] if e["status"] == "SUCCEEDED")
                for name in ("equals_mysql", "agrees_with_stream")}
            print(f"backfill of {args.days} days: {status} in {seconds:.0f}s "
                  f"({seconds / args.days:.1f}s per day); checks passed: {passed}")
            for run in graphql(url, FAILURES, {})["runsOrError"]["results"]:
                day = {t["key"]: t["value"] for t in run["tags"]}.get("dagster/partition")
                errors = [((e["error"] or {}).get("cause") or e["error"] or {}).get("message")
                          for e in run["eventConnection"]["events"]
                          if e["__typename"] == "ExecutionStepFailureEvent"]
                print(f"failed: {day} run {run['runId']}: {errors[-1:]}")
            if args.screenshot:
                screenshot(settings, args.screenshot)
                print(f"screenshot: {args.screenshot}")
        finally:
            dagster.stop(settings)


if __name__ == "__main__":
    main()
