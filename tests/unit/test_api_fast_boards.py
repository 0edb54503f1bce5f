"""The fast path of ``GET /leaderboards/{metric}`` answers exactly what the route answers,
and leaves everything else to the route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services import deps
from services.app import create_app
from services.fast_boards import FastBoards, plain_query
from services.routes import leaderboards as route
from tests.unit.test_api_app import SETTINGS, FakeHolder, FakeStore, store  # noqa: F401

QUERIES = [
    "", "by=variant", "by=product&scope=IN&limit=1", "window=all", "window=ALL",
    "window=current", "window=2026-11-25T07:15:00Z", "window=2026-11-25T08:15:00%2B01:00",
    "limit=100", "limit=010", "scope=AU&by=product_material&window=all&limit=3",
    # each of these goes to the route (and most are a 422 there)
    "limit=0", "limit=101", "limit=abc", "limit=%2B5", "limit=", "by=seller", "by=", "scope=FR",
    "scope=in", "window=yesterday", "window=", "window=" + "1" * 41, "foo=1",
    "window=2026-11-25T07:15:00.000000000000000%2B00:00",  # a valid start, but 41 characters
    "by=product&by=variant", "by", "%ff=1",
]


def app_for(store: FakeStore, fast: bool) -> FastAPI:  # noqa: F811
    app = create_app(SETTINGS, publish_events=False)
    app.dependency_overrides[deps.mysql] = lambda: None
    app.state.cassandra = FakeHolder(lambda: store)
    if not fast:  # the middleware stack is built on the first request
        app.user_middleware = [m for m in app.user_middleware if m.cls is not FastBoards]
    return app


@pytest.fixture
def clients(store: FakeStore) -> Iterator[tuple[TestClient, TestClient]]:  # noqa: F811
    with (TestClient(app_for(store, True)) as fast,
          TestClient(app_for(store, False)) as routed):
        yield fast, routed


@pytest.mark.parametrize("metric", ["quantity", "revenue", "units"])
def test_same_answers_as_the_route(clients, metric: str):
    fast, routed = clients
    for query in QUERIES:
        url = f"/leaderboards/{metric}?{query}"
        a, b = fast.get(url), routed.get(url)
        assert (a.status_code, a.content) == (b.status_code, b.content), url
        assert a.headers["content-type"] == b.headers["content-type"], url


def test_plain_reads_never_reach_the_route(clients, monkeypatch):
    fast, _ = clients

    async def route_was_asked(*args, **kwargs):
        raise AssertionError("the route answered")

    monkeypatch.setattr(route, "board_body", route_was_asked)
    assert fast.get("/leaderboards/quantity?by=variant&scope=IN&limit=1").status_code == 200
    assert fast.get("/leaderboards/quantity?by=seller").status_code == 422  # the route's 422


@pytest.mark.parametrize(("query", "expected"), [
    (b"", {}), (b"by=product&limit=3", {"by": "product", "limit": "3"}),
    (b"by=a&by=b", None), (b"other=1", None), (b"\xff=1", None), (b"by", None)])
def test_plain_query(query: bytes, expected):
    assert plain_query(query) == expected
