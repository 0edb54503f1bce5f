"""The API without services: error bodies, auth, OpenAPI, models, windows, the page.

MySQL is replaced through ``app.dependency_overrides``, Cassandra by a fake store in the
app's Cassandra holder (``app.state.cassandra``: the routes and the board cache use it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from services import deps
from services.app import create_app
from services.errors import field_path
from services.models.common import Money, Out, UtcTime
from services.routes.leaderboards import resolve_window
from services.routes.page import STATIC
from topproducts.errors import StackError
from topproducts.leaderboards import (
    DEFAULT_GRANULARITY,
    Granularity,
    ItemTotal,
    Leaderboard,
    Metric,
    Ranked,
    Window,
)
from topproducts.settings import Settings

SETTINGS = Settings(api_key="unit-key")


class FakeStore:
    def __init__(self, entries: list[Ranked] | None = None) -> None:
        self.entries = entries or []
        self.asked: list[tuple] = []

    def top(self, metric: Metric, scope: str, wid: str, n: int | None = None,
            by: Granularity = DEFAULT_GRANULARITY) -> Leaderboard:
        self.asked.append((metric, by, scope, wid, n))
        return Leaderboard(metric, by, scope, Window(), self.entries[:n],
                           datetime(2026, 11, 25, 8, 0, tzinfo=UTC) if self.entries else None)

    def windows(self, scope: str, limit: int = 50) -> list[Window]:
        return []


@pytest.fixture
def store() -> FakeStore:
    lamp = ItemTotal(1, "Barton Smart Lamp", "Cotton", None, None, 7, Decimal("1234.5"))
    mug = ItemTotal(2, "Tanaka Classic Mug", "Glass", None, None, 3, Decimal("9.99"))
    return FakeStore([Ranked(1, lamp, Decimal(7)), Ranked(2, mug, Decimal(3))])


class FakeHolder:
    """Stands in for :class:`services.deps.CassandraHolder`."""

    def __init__(self, store: Callable[[], FakeStore]) -> None:
        self.store = store

    def close(self) -> None:
        pass


@pytest.fixture
def client(store: FakeStore):
    app = create_app(SETTINGS, publish_events=False)
    app.dependency_overrides[deps.mysql] = lambda: None
    app.state.cassandra = FakeHolder(lambda: store)
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize(("loc", "expected"), [
    (("body", "lines", 0, "quantity"), "lines[0].quantity"),
    (("query", "limit"), "limit"),
    (("path", "order_id"), "order_id"),
    (("body",), None),
    (("body", "address", "country"), "address.country"),
])
def test_field_path(loc, expected):
    assert field_path(loc) == expected


def test_writes_need_the_key_before_anything_else(client: TestClient):
    for headers in ({}, {"X-API-Key": "nope"}):
        response = client.post("/orders", json={"not": "an order"}, headers=headers)
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"code", "message", "field"}


def test_validation_errors_name_the_field(client: TestClient):
    response = client.post("/orders", headers={"X-API-Key": "unit-key"}, json={
        "customer_id": 1, "lines": [{"variant_id": 10, "quantity": 9}]})
    assert response.status_code == 422
    assert response.json() == {"error": {
        "code": "invalid_input", "field": "lines[0].quantity",
        "message": "lines[0].quantity: Input should be less than or equal to 5"}}
    missing = client.post("/orders", headers={"X-API-Key": "unit-key"}, json={"lines": []})
    assert missing.json()["error"]["field"] == "customer_id"
    assert "more problem" in missing.json()["error"]["message"]
    not_json = client.post("/orders", headers={"X-API-Key": "unit-key",
                                               "Content-Type": "application/json"},
                           content=b"{nope")
    assert not_json.status_code == 422


def test_unknown_routes_and_methods_use_the_error_body(client: TestClient):
    assert client.get("/nowhere").json() == {"error": {
        "code": "not_found", "message": "no such endpoint", "field": None}}
    response = client.delete("/leaderboards/quantity")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_leaderboard_from_the_store(client: TestClient, store: FakeStore):
    quantity = client.get("/leaderboards/quantity", params={"scope": "IN", "limit": 1}).json()
    # The whole board is read once (the cache serves every limit from it).
    assert store.asked[-1] == (Metric.QUANTITY, Granularity.PRODUCT_MATERIAL, "IN", "all", None)
    assert quantity["by"] == "product_material"
    assert quantity["entries"] == [{
        "rank": 1, "name": "Barton Smart Lamp · Cotton", "product_id": 1,
        "product_name": "Barton Smart Lamp", "material": "Cotton", "variant_id": None,
        "seller": None, "value": "7", "quantity": 7, "revenue_usd": "1234.50"}]
    assert quantity["updated_at"] == "2026-11-25T08:00:00Z"
    revenue = client.get("/leaderboards/revenue", params={"window": "2026-11-25T07:15:00Z",
                                                          "by": "product"})
    assert store.asked[-1][1:4] == (Granularity.PRODUCT, "GLOBAL", "2026-11-25T07:15:00Z")
    assert revenue.json()["window"] == {"id": "2026-11-25T07:15:00Z",
                                        "start": "2026-11-25T07:15:00Z",
                                        "end": "2026-11-25T08:15:00Z"}


def test_unreachable_cassandra_is_503(client: TestClient):
    def down():
        raise StackError("Cassandra at 127.0.0.1:9042: connection refused")

    client.app.state.cassandra = FakeHolder(down)
    for path in ("/leaderboards/quantity", "/leaderboards/options"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.json()["error"]["code"] == "service_unavailable"


@pytest.mark.parametrize(("text", "expected"), [
    ("all", "all"), ("ALL", "all"), ("current", "2026-11-25T07:15:00Z"),
    ("2026-11-25T08:00:00Z", "2026-11-25T08:00:00Z"),
    ("2026-11-25T09:00:00+01:00", "2026-11-25T08:00:00Z"),
    ("2026-11-25T08:00:00", "2026-11-25T08:00:00Z"),
])
def test_resolve_window(text: str, expected: str):
    now = datetime(2026, 11, 25, 8, 11, tzinfo=UTC)
    assert resolve_window(text, SETTINGS, now).id == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59"])
def test_resolve_window_rejects(text: str):
    with pytest.raises(ValueError, match="not a window"):
        resolve_window(text, SETTINGS)


def test_money_and_times_on_the_wire():
    class M(Out):
        amount: Money
        at: UtcTime

    m = M(amount=Decimal("12.5"), at=datetime(2026, 11, 25, 8, 0, 0, 123456))
    assert m.model_dump(mode="json") == {"amount": "12.50", "at": "2026-11-25T08:00:00.123456Z"}
    schema = M.model_json_schema(mode="serialization")["properties"]
    assert schema["amount"]["type"] == "string" and schema["at"]["format"] == "date-time"


def test_openapi_is_complete():
    spec = create_app(SETTINGS, publish_events=False).openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    writes = 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
            if path.endswith("/stream"):  # server-sent events: each event declared
                assert set(ok["content"]) == {"text/event-stream"}, where
            else:
                assert "$ref" in str(ok["content"]["application/json"]["schema"]), where
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), where
            if method in ("post", "put", "patch", "delete"):
                writes += 1
                assert op["security"] == [{"APIKeyHeader": []}], where
                assert "401" in op["responses"], where
            else:
                assert "security" not in op, where
    assert writes == 6


def test_the_page_loads_nothing_from_elsewhere(client: TestClient):
    html = client.get("/")
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC / name).read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), name
        assert "cdn" not in text.lower(), name
        assert client.get(f"/static/{name}").status_code == 200 or name == "index.html"
    for selector in ('id="metric"', 'id="by"', 'id="scope"', 'id="window"', 'id="chart"',
                     'id="updated"', 'id="ranked"', 'id="mode"'):
        assert selector in html.text
