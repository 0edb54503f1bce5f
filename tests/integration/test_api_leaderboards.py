"""The leaderboard endpoints return exactly what Cassandra holds.

Rows are written through :mod:`topproducts.leaderboards.store` the way the stream
writes them (absolute totals + whole rank partitions) and read back through the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from services.testing import drop_shop, isolated
from tests.integration.conftest import write_leaderboard
from topproducts import cassandra_io
from topproducts.leaderboards import (
    ALL,
    ItemTotal,
    LeaderboardStore,
    Metric,
    Window,
    current_window_start,
    ensure_schema,
    parse_duration,
)
from topproducts.leaderboards.ranking import Geometry
from topproducts.money import money_str
from topproducts.settings import Settings

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def item(variant_id: int, quantity: int, revenue: str, name: str = "") -> ItemTotal:
    return ItemTotal(variant_id=variant_id, product_id=variant_id // 10,
                     product_name=name or f"Product {variant_id // 10}", material="Wool",
                     quantity=quantity, revenue_usd=Decimal(revenue))


def write(store: LeaderboardStore, scope: str, window: Window, items: list[ItemTotal],
          n: int = 10) -> None:
    """What the stream's sink does for one (scope, window)."""
    write_leaderboard(store, scope, window, items, n, NOW)


@pytest.fixture(scope="module")
def lb(running_stack: Settings) -> Iterator[tuple[Settings, LeaderboardStore]]:
    s = isolated(running_stack)
    session = cassandra_io.connect(s)
    try:
        ensure_schema(session, s)
        yield s, LeaderboardStore(session, s.cassandra_keyspace,
                                  Geometry.parse(s.window_duration, s.window_slide))
    finally:
        session.cluster.shutdown()
        drop_shop(s)


@pytest.fixture(scope="module")
def client(lb) -> Iterator[TestClient]:
    s, _ = lb
    with TestClient(create_app(s, publish_events=False)) as c:
        yield c


def current_window(s: Settings) -> Window:
    duration = parse_duration(s.window_duration)
    start = current_window_start(datetime.now(UTC), duration, parse_duration(s.window_slide))
    return Window(start, start + duration)


def test_top_returns_exactly_what_cassandra_holds(lb, client: TestClient):
    _, store = lb
    items = [item(11, 5, "120.50", "Barton Smart Lamp"), item(21, 9, "99.99"),
             item(31, 2, "1234.56"), item(41, 9, "10.00"), item(51, 1, "0.01")]
    write(store, "GLOBAL", ALL, items)
    for metric in Metric:
        board = store.top(metric, "GLOBAL", "all")
        response = client.get(f"/leaderboards/{metric.value}")
        assert response.status_code == 200
        body = response.json()
        assert (body["metric"], body["scope"], body["currency"]) == (metric.value, "GLOBAL",
                                                                      "USD")
        assert body["window"] == {"id": "all", "start": None, "end": None}
        assert body["updated_at"] == NOW.isoformat().replace("+00:00", "Z")
        assert [(e["rank"], e["variant_id"], e["product_name"], e["material"], e["quantity"],
                 e["revenue_usd"], e["value"]) for e in body["entries"]] == [
            (r.rank, r.item.variant_id, r.item.product_name, r.item.material, r.item.quantity,
             money_str(r.item.revenue_usd),
             str(int(r.value)) if metric is Metric.QUANTITY else money_str(r.value))
            for r in board.entries]
    quantity = client.get("/leaderboards/quantity").json()["entries"]
    assert [e["variant_id"] for e in quantity] == [21, 41, 11, 31, 51]  # ties by variant id
    revenue = client.get("/leaderboards/revenue", params={"limit": 2}).json()["entries"]
    assert [(e["variant_id"], e["value"]) for e in revenue] == [(31, "1234.56"), (11, "120.50")]


def test_new_totals_replace_the_board(lb, client: TestClient):
    _, store = lb
    write(store, "US", ALL, [item(11, 1, "5.00"), item(21, 2, "6.00"), item(31, 3, "7.00")], n=3)
    assert [e["variant_id"] for e in client.get(
        "/leaderboards/quantity", params={"scope": "US"}).json()["entries"]] == [31, 21, 11]
    # A new best seller pushes 11 out of a top 3; a cancellation took 31 down.
    write(store, "US", ALL, [item(11, 1, "5.00"), item(21, 2, "6.00"), item(31, 1, "2.00"),
                             item(61, 40, "400.00")], n=3)
    entries = client.get("/leaderboards/quantity", params={"scope": "US"}).json()["entries"]
    assert [(e["variant_id"], e["value"]) for e in entries] == [(61, "40"), (21, "2"), (11, "1")]


def test_windows_current_and_explicit(lb, client: TestClient):
    s, store = lb
    window = current_window(s)
    write(store, "GB", window, [item(71, 4, "44.00")])
    if current_window(s) != window:  # crossed a slide boundary just now: the next one is stable
        window = current_window(s)
        write(store, "GB", window, [item(71, 4, "44.00")])
    for w in ("current", window.id, window.start.isoformat()):
        body = client.get("/leaderboards/revenue", params={"scope": "GB", "window": w}).json()
        assert body["window"]["id"] == window.id
        assert body["window"]["end"] == window.end.isoformat().replace("+00:00", "Z")
        assert [(e["variant_id"], e["value"]) for e in body["entries"]] == [(71, "44.00")]
    options = client.get("/leaderboards/options", params={"scope": "GB"}).json()
    assert window.id in [w["id"] for w in options["windows"]]
    assert options["current_window"]["id"] == window.id
    assert [sc["code"] for sc in options["scopes"]] == ["GLOBAL", "IN", "US", "GB", "CA", "AU"]
    earlier = window.start - timedelta(hours=5)
    empty = client.get("/leaderboards/revenue", params={"scope": "GB",
                                                        "window": earlier.isoformat()}).json()
    assert empty["entries"] == [] and empty["updated_at"] is None


def test_item_totals(lb, client: TestClient):
    _, store = lb
    write(store, "CA", ALL, [item(81, 7, "70.70"), item(91, 1, "1.00")])
    body = client.get("/leaderboards/items/81", params={"scope": "CA"}).json()
    assert {k: body[k] for k in ("scope", "variant_id", "quantity", "revenue_usd")} == {
        "scope": "CA", "variant_id": 81, "quantity": 7, "revenue_usd": "70.70"}
    assert next(t for t in store.totals("CA", "all") if t.variant_id == 81).quantity == 7
    missing = client.get("/leaderboards/items/81", params={"scope": "AU"})
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "variant_id"


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/leaderboards/units", {}, "metric"),
    ("/leaderboards/quantity", {"scope": "FR"}, "scope"),
    ("/leaderboards/quantity", {"window": "yesterday"}, "window"),
    ("/leaderboards/quantity", {"limit": 0}, "limit"),
    ("/leaderboards/items/0", {}, "variant_id"),
])
def test_bad_leaderboard_input_is_422(client: TestClient, path: str, params: dict, field: str):
    response = client.get(path, params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_leaderboard_reads_need_no_key(lb, client: TestClient):
    assert "X-API-Key" not in client.headers
    assert client.get("/leaderboards/quantity").status_code == 200
