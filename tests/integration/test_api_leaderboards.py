"""The leaderboard endpoints return exactly what Cassandra holds, at every granularity.

Variant totals and boards are written through :mod:`topproducts.leaderboards.store` the
way the stream writes them and read back through the API. The API serves boards from
memory, re-read every ``api_board_refresh_seconds``: a read after a write may lag by
that much, so tests of a *changed* board wait for it (and fail when it takes a second).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from streaming.store import StreamStore
from tests.support.leaderboards import write_leaderboard
from tests.support.sandbox import sandbox
from tests.support.serving import serving
from topproducts.cli.stream import show_leaderboard
from topproducts.leaderboards import (
    ALL,
    Granularity,
    ItemTotal,
    Metric,
    Window,
    current_window_start,
    parse_duration,
)
from topproducts.money import money_str
from topproducts.settings import Settings

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
PUSH_WITHIN = 1.0  # seconds: a changed board reaches a reader within this (the goal)


def variant(variant_id: int, product_id: int, material: str, seller: str | None,
            quantity: int, revenue: str) -> ItemTotal:
    return ItemTotal(product_id=product_id, product_name=f"Product {product_id}",
                     material=material, variant_id=variant_id, seller=seller,
                     quantity=quantity, revenue_usd=Decimal(revenue))


# Product 1 in wool is sold by two sellers: two variant rows, one product_material row.
SALES = [variant(11, 1, "Wool", "Acme", 5, "50.00"), variant(12, 1, "Wool", "Birch", 4, "44.00"),
         variant(13, 1, "Leather", "Acme", 6, "120.50"), variant(21, 2, "Oak", "Acme", 9, "99.99"),
         variant(31, 3, "Wool", None, 2, "1234.56")]
EXPECTED_QUANTITY = {  # (name, value) in rank order, by hand
    Granularity.PRODUCT_MATERIAL: [("Product 1 · Wool", "9"), ("Product 2 · Oak", "9"),
                                   ("Product 1 · Leather", "6"), ("Product 3 · Wool", "2")],
    Granularity.PRODUCT: [("Product 1", "15"), ("Product 2", "9"), ("Product 3", "2")],
    Granularity.VARIANT: [("Product 2 · Oak · sold by Acme", "9"),
                          ("Product 1 · Leather · sold by Acme", "6"),
                          ("Product 1 · Wool · sold by Acme", "5"),
                          ("Product 1 · Wool · sold by Birch", "4"),
                          ("Product 3 · Wool · sold by variant 31", "2")],
}


def write(store: StreamStore, scope: str, window: Window, variants: list[ItemTotal],
          n: int = 10) -> None:
    """What the stream's sink does for one (scope, window)."""
    write_leaderboard(store, scope, window, variants, n, NOW)


def eventually(read: Callable[[], dict], done: Callable[[dict], bool],
               within: float = PUSH_WITHIN) -> dict:
    """Poll ``read()`` until ``done(body)``; fails when it takes longer than ``within``."""
    deadline = time.monotonic() + within
    while True:
        body = read()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"not within {within} s: {body}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def lb(running_stack: Settings) -> Iterator[tuple[Settings, StreamStore]]:
    with sandbox(running_stack) as s, StreamStore.opened(s) as store:
        yield s, store


@pytest.fixture(scope="module")
def client(lb) -> Iterator[TestClient]:
    s, _ = lb
    with TestClient(create_app(s, publish_events=False)) as c:
        yield c


def current_window(s: Settings) -> Window:
    duration = parse_duration(s.window_duration)
    start = current_window_start(datetime.now(UTC), duration, parse_duration(s.window_slide))
    return Window(start, start + duration)


def entries_of(board) -> list[tuple]:
    """A stored board as the API must show its entries."""
    return [(r.rank, r.item.name, r.item.product_id, r.item.product_name, r.item.material,
             r.item.variant_id, r.item.seller, r.item.quantity, money_str(r.item.revenue_usd),
             str(int(r.value)) if board.metric is Metric.QUANTITY else money_str(r.value))
            for r in board.entries]


def api_entries(body: dict) -> list[tuple]:
    return [(e["rank"], e["name"], e["product_id"], e["product_name"], e["material"],
             e["variant_id"], e["seller"], e["quantity"], e["revenue_usd"], e["value"])
            for e in body["entries"]]


@pytest.mark.parametrize("by", list(Granularity))
def test_each_granularity_returns_exactly_what_cassandra_holds(lb, client: TestClient,
                                                               by: Granularity):
    _, store = lb
    write(store, "GLOBAL", ALL, SALES)
    for metric in Metric:
        board = store.top(metric, "GLOBAL", "all", by=by)
        response = client.get(f"/leaderboards/{metric.value}", params={"by": by.value})
        assert response.status_code == 200
        body = response.json()
        assert (body["metric"], body["by"], body["scope"], body["currency"]) == (
            metric.value, by.value, "GLOBAL", "USD")
        assert body["window"] == {"id": "all", "start": None, "end": None}
        assert body["updated_at"] == NOW.isoformat().replace("+00:00", "Z")
        assert api_entries(body) == entries_of(board)
    quantity = client.get("/leaderboards/quantity", params={"by": by.value}).json()["entries"]
    assert [(e["name"], e["value"]) for e in quantity] == EXPECTED_QUANTITY[by]
    for e in quantity:  # each granularity carries its own fields, and only those
        assert (e["material"] is None) == (by is Granularity.PRODUCT)
        assert (e["variant_id"] is not None) == (by is Granularity.VARIANT)
        if by is not Granularity.VARIANT:
            assert e["seller"] is None
    revenue = client.get("/leaderboards/revenue", params={"by": by.value, "limit": 2}).json()
    assert [e["value"] for e in revenue["entries"]] == [
        money_str(r.value) for r in store.top(Metric.REVENUE, "GLOBAL", "all", by=by).entries[:2]]


def test_default_is_product_material_without_repeated_rows(lb, client: TestClient):
    _, store = lb
    write(store, "GLOBAL", ALL, SALES)
    body = client.get("/leaderboards/quantity").json()
    assert body["by"] == "product_material"
    pairs = [(e["product_id"], e["material"]) for e in body["entries"]]
    assert len(pairs) == len(set(pairs)) == 4  # 5 variants, 4 (product, material)
    for by in Granularity:
        names = [e["name"] for e in client.get(
            "/leaderboards/revenue", params={"by": by.value}).json()["entries"]]
        assert len(names) == len(set(names)), names
    variants = client.get("/leaderboards/quantity", params={"by": "variant"}).json()["entries"]
    assert {e["variant_id"]: e["seller"] for e in variants} == {
        11: "Acme", 12: "Birch", 13: "Acme", 21: "Acme", 31: None}


def test_new_totals_replace_the_board_within_the_refresh(lb, client: TestClient):
    _, store = lb
    first = [variant(11, 1, "Wool", "Acme", 1, "5.00"), variant(21, 2, "Oak", "Acme", 2, "6.00"),
             variant(31, 3, "Wool", "Acme", 3, "7.00")]
    write(store, "US", ALL, first, n=3)
    assert [e["product_id"] for e in client.get(
        "/leaderboards/quantity", params={"scope": "US"}).json()["entries"]] == [3, 2, 1]
    # A new best seller pushes product 1 out of a top 3; a cancellation took product 3 down.
    write(store, "US", ALL, [*first[:2], variant(31, 3, "Wool", "Acme", 1, "2.00"),
                             variant(61, 6, "Silk", "Acme", 40, "400.00")], n=3)
    written = time.monotonic()
    body = eventually(lambda: client.get("/leaderboards/quantity", params={"scope": "US"}).json(),
                      lambda b: b["entries"][0]["product_id"] == 6)
    seen = time.monotonic() - written
    assert [(e["product_id"], e["value"]) for e in body["entries"]] == [
        (6, "40"), (2, "2"), (1, "1")]
    assert api_entries(body) == entries_of(store.top(Metric.QUANTITY, "US", "all"))
    assert seen < PUSH_WITHIN


def test_windows_current_and_explicit(lb, client: TestClient):
    s, store = lb
    window = current_window(s)
    write(store, "GB", window, [SALES[0]])
    if current_window(s) != window:  # crossed a slide boundary just now: the next one is stable
        window = current_window(s)
        write(store, "GB", window, [SALES[0]])
    for by in Granularity:
        for w in ("current", window.id, window.start.isoformat()):
            body = client.get("/leaderboards/revenue", params={
                "scope": "GB", "window": w, "by": by.value}).json()
            assert body["window"]["id"] == window.id
            assert body["window"]["end"] == window.end.isoformat().replace("+00:00", "Z")
            assert [(e["product_id"], e["value"]) for e in body["entries"]] == [(1, "50.00")]
    options = client.get("/leaderboards/options", params={"scope": "GB"}).json()
    assert window.id in [w["id"] for w in options["windows"]]
    assert options["current_window"]["id"] == window.id
    assert [sc["code"] for sc in options["scopes"]] == ["GLOBAL", "IN", "US", "GB", "CA", "AU"]
    earlier = window.start - timedelta(hours=5)
    empty = client.get("/leaderboards/revenue", params={"scope": "GB",
                                                        "window": earlier.isoformat()}).json()
    assert empty["entries"] == [] and empty["updated_at"] is None


def test_options_list_the_granularities(client: TestClient):
    options = client.get("/leaderboards/options").json()
    assert options["default_granularity"] == "product_material"
    assert options["granularities"] == [
        {"code": "product_material", "label": "product × material"},
        {"code": "product", "label": "product"},
        {"code": "variant", "label": "variant (product × material × seller)"}]


def test_item_totals(lb, client: TestClient):
    _, store = lb
    write(store, "CA", ALL, [variant(81, 8, "Oak", "Acme", 7, "70.70"),
                             variant(91, 9, "Oak", "Birch", 1, "1.00")])
    body = client.get("/leaderboards/items/81", params={"scope": "CA"}).json()
    assert {k: body[k] for k in ("scope", "variant_id", "seller", "name", "quantity",
                                 "revenue_usd")} == {
        "scope": "CA", "variant_id": 81, "seller": "Acme", "name": "Product 8 · Oak · sold by Acme",
        "quantity": 7, "revenue_usd": "70.70"}
    missing = client.get("/leaderboards/items/81", params={"scope": "AU"})
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "variant_id"


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/leaderboards/units", {}, "metric"),
    ("/leaderboards/quantity", {"scope": "FR"}, "scope"),
    ("/leaderboards/quantity", {"window": "yesterday"}, "window"),
    ("/leaderboards/quantity", {"limit": 0}, "limit"),
    ("/leaderboards/quantity", {"by": "seller"}, "by"),
    ("/leaderboards/quantity/stream", {"by": "seller"}, "by"),
    ("/leaderboards/quantity/stream", {"window": "yesterday"}, "window"),
    ("/leaderboards/items/0", {}, "variant_id"),
])
def test_bad_leaderboard_input_is_422(client: TestClient, path: str, params: dict, field: str):
    response = client.get(path, params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_unknown_granularity_names_the_known_ones(client: TestClient):
    error = client.get("/leaderboards/revenue", params={"by": "seller"}).json()["error"]
    assert error["code"] == "invalid_input"
    assert all(g.value in error["message"] for g in Granularity), error["message"]


def table_rows(printed: str) -> list[list[str]]:
    """The body rows of a table rich printed."""
    return [[c.strip() for c in line.split("│")[1:-1]]
            for line in printed.splitlines() if line.startswith("│")]


def test_cli_prints_each_granularity(lb, capsys):
    s, store = lb
    write(store, "IN", ALL, SALES)
    show_leaderboard(s, Metric.QUANTITY, "IN", "all", 5, Granularity.VARIANT)
    assert [r[:5] for r in table_rows(capsys.readouterr().out)] == [
        ["1", "Product 2", "Oak", "Acme", "21"], ["2", "Product 1", "Leather", "Acme", "13"],
        ["3", "Product 1", "Wool", "Acme", "11"], ["4", "Product 1", "Wool", "Birch", "12"],
        ["5", "Product 3", "Wool", "-", "31"]]
    show_leaderboard(s, Metric.QUANTITY, "IN", "all", 5)  # the default: product × material
    assert table_rows(capsys.readouterr().out) == [
        ["1", "Product 1", "Wool", "9", "94.00"], ["2", "Product 2", "Oak", "9", "99.99"],
        ["3", "Product 1", "Leather", "6", "120.50"], ["4", "Product 3", "Wool", "2", "1,234.56"]]
    show_leaderboard(s, Metric.REVENUE, "IN", "all", 5, Granularity.PRODUCT)
    assert [r[:3] for r in table_rows(capsys.readouterr().out)] == [
        ["1", "Product 3", "2"], ["2", "Product 1", "15"], ["3", "Product 2", "9"]]


def test_leaderboard_reads_need_no_key(lb, client: TestClient):
    assert "X-API-Key" not in client.headers
    assert client.get("/leaderboards/quantity").status_code == 200


def sse_boards(response: httpx.Response) -> Iterator[tuple[float, dict]]:
    """(arrival time, board) of each `board` event of a server-sent-events response."""
    event = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "board":
            yield time.monotonic(), json.loads(line.removeprefix("data: "))


def test_stream_pushes_a_changed_board_within_a_second(lb):
    s, store = lb
    write(store, "AU", ALL, SALES[:2])
    with (serving(create_app(s, publish_events=False)) as url,
          httpx.stream("GET", f"{url}/leaderboards/revenue/stream",
                       params={"scope": "AU", "by": "variant", "limit": 3}, timeout=10) as r):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        boards = sse_boards(r)
        _, first = next(boards)  # the board at once
        assert (first["metric"], first["by"], first["scope"]) == ("revenue", "variant", "AU")
        assert [e["variant_id"] for e in first["entries"]] == [11, 12]
        for sales, expected in ((SALES, [31, 13, 21]), (SALES[:1], [11])):
            write(store, "AU", ALL, sales)
            written = time.monotonic()
            arrived, board = next(boards)
            assert [e["variant_id"] for e in board["entries"]] == expected
            assert arrived - written < PUSH_WITHIN
            # What was pushed is what a GET answers, and what Cassandra holds.
            get = httpx.get(f"{url}/leaderboards/revenue",
                            params={"scope": "AU", "by": "variant", "limit": 3}).json()
            assert board == get
            assert api_entries(board) == entries_of(store.top(
                Metric.REVENUE, "AU", "all", n=3, by=Granularity.VARIANT))
