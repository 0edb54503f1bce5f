"""The API's contract without services: what the OpenAPI schema allows is what the API
accepts (the patterns of text, days and windows, strict request bodies), a body that is
not JSON is a 422, and a 405 lists every method of the path in ``Allow``.

``tests/integration/test_api_fuzz.py`` checks the same with schemathesis on a real shop.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from services import deps
from services.app import create_app
from services.models.users import _clean, _email
from services.patterns import DAY, DAY_RE, EMAIL_RE, TEXT_RE, WINDOW, WINDOW_RE
from services.routes.leaderboards import resolve_window
from tests.unit.test_api_app import SETTINGS, FakeHolder, FakeStore, store  # noqa: F401
from topproducts.leaderboards.daily import parse_day

AUTH = {"X-API-Key": SETTINGS.api_key}


@pytest.fixture
def client(store: FakeStore):  # noqa: F811
    app = create_app(SETTINGS, publish_events=False)
    app.dependency_overrides[deps.mysql] = lambda: None
    app.state.cassandra = FakeHolder(lambda: store)
    with TestClient(app) as c:
        yield c


def _accepts(check, text: str) -> bool:
    try:
        check(text)
    except ValueError:
        return False
    return True


# Text of any kind: spaces, controls, letters, the odd character out of every plane.
TEXTS = st.text(st.characters(codec="utf-8") | st.sampled_from(" \t\n\x0b\x85\xa0\u2028@."),
                max_size=12)


@settings(max_examples=500)
@given(TEXTS)
def test_text_pattern_is_what_the_check_accepts(text: str):
    assert bool(TEXT_RE.fullmatch(text)) == _accepts(_clean, text)


@settings(max_examples=500)
@given(st.one_of(TEXTS, st.from_regex(EMAIL_RE, fullmatch=True)))
def test_email_pattern_is_what_the_checks_accept(text: str):
    assert bool(EMAIL_RE.fullmatch(text)) == _accepts(lambda v: _email(_clean(v)), text)


def _window_accepted(text: str) -> bool:
    try:
        resolve_window(text, SETTINGS, datetime(2026, 11, 25, 8, 11, tzinfo=UTC))
    except ValueError:
        return False
    return True


@settings(max_examples=300)
@given(st.from_regex(WINDOW, fullmatch=True))
def test_every_window_the_pattern_allows_is_accepted(text: str):
    assert _window_accepted(text)


@settings(max_examples=300)
@given(st.from_regex(DAY, fullmatch=True))
def test_every_day_the_pattern_allows_is_a_day(text: str):
    parse_day(text)


@pytest.mark.parametrize("text", [
    "all", "ALL", "Current", "2026-11-25T08:00:00Z", "2026-11-25T09:00:00+01:00",
    "2026-11-25T08:00:00", "2026-11-25T08:00", "2024-02-29T00:00:00.123456789Z",
    "2000-02-29T00:00Z"])
def test_documented_windows_match_the_pattern(text: str):
    assert WINDOW_RE.fullmatch(text) and _window_accepted(text)


@pytest.mark.parametrize("text", [
    " all", "all\n", "yesterday", "2026-11-25", "2026-02-29T00:00Z", "1900-02-29T00:00Z",
    "2026-11-25 08:00", "2026-11-25T24:00Z", "2026-11-25T08:00:00z", "20261125T0800",
    "9999-12-31T23:59:59", "0001-01-01T00:00+23:59"])
def test_other_windows_are_refused_by_both(text: str):
    assert not WINDOW_RE.fullmatch(text) and not _window_accepted(text)


@pytest.mark.parametrize(("text", "ok"), [
    ("2026-11-24", True), ("2024-02-29", True), ("2026-02-29", False), ("2026-W48-2", False),
    ("20261124", False), (" 2026-11-24", False), ("2026-04-31", False)])
def test_day_pattern(text: str, ok: bool):
    assert bool(DAY_RE.fullmatch(text)) == ok


def test_the_schema_carries_the_patterns(client: TestClient):
    paths = client.get("/openapi.json").json()["paths"]

    def param(path: str, name: str) -> dict:
        return next(p["schema"] for p in paths[path]["get"]["parameters"] if p["name"] == name)

    assert param("/leaderboards/{metric}", "window")["pattern"] == WINDOW
    assert param("/leaderboards/items/{variant_id}", "window")["pattern"] == WINDOW
    assert param("/leaderboards/{metric}/daily/{day}", "day")["pattern"] == DAY
    assert param("/leaderboards/{metric}/daily", "from")["pattern"] == DAY
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["CustomerIn"]["properties"]["email"]["pattern"] == EMAIL_RE.pattern
    assert schemas["AddressIn"]["properties"]["city"]["pattern"] == TEXT_RE.pattern
    for pattern in (WINDOW, DAY, EMAIL_RE.pattern, TEXT_RE.pattern):
        assert not re.search(r"\\[sdwSDW]|\(\?[a-z]", pattern)  # the same in every engine


@pytest.mark.parametrize("stock", [False, True, "5", None, [5], {"n": 5}, 5.5])
def test_request_bodies_are_strict(client: TestClient, stock: object):
    response = client.put("/variants/1/stock", json={"stock": stock}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "stock"
    assert "valid integer" in response.json()["error"]["message"]


def test_order_lines_are_strict_too(client: TestClient):
    response = client.post("/orders", headers=AUTH, json={
        "customer_id": "1", "lines": [{"variant_id": 10, "quantity": True}]})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "customer_id"


def test_ids_stay_within_what_json_holds_exactly(client: TestClient):
    too_big = client.get("/orders/9007199254740992")
    assert too_big.status_code == 422 and too_big.json()["error"]["field"] == "order_id"


@pytest.mark.parametrize("body", [b"\xc4\xb6\xff\x04", b"{nope", b"", b"[1"])
def test_a_body_that_is_not_json_is_422(client: TestClient, body: bytes):
    response = client.put("/variants/1/stock", content=body, headers={
        **AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    responses = client.get("/openapi.json").json()["paths"]["/variants/{variant_id}/stock"][
        "put"]["responses"]
    assert "422" in responses and "400" not in responses


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("OPTIONS", "/customers", "GET, POST"),
    ("DELETE", "/customers", "GET, POST"),
    ("OPTIONS", "/orders", "GET, POST"),
    ("PATCH", "/orders/1", "GET"),
    ("GET", "/orders/1/cancel", "POST"),
    ("OPTIONS", "/leaderboards/options", "GET"),
    ("DELETE", "/variants/1/stock", "PUT"),
])
def test_405_allows_every_method_of_the_path(client: TestClient, method: str, path: str,
                                             allow: str):
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert allow in response.json()["error"]["message"]
