"""``/leaderboards/{metric}/stream`` without Cassandra: the board at once, a change pushed,
and while the store cannot be read an ``unavailable`` event, then the board again."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from services import deps
from services.app import create_app
from tests.support.serving import serving
from tests.unit.test_api_app import SETTINGS, FakeHolder, FakeStore, store  # noqa: F401
from topproducts.errors import StackError


def events(response: httpx.Response) -> Iterator[tuple[str, dict]]:
    name = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


def test_stream_pushes_changes_and_says_when_cassandra_is_down(store: FakeStore):  # noqa: F811
    settings = SETTINGS.replace(api_board_refresh_seconds=0.05)
    app = create_app(settings, publish_events=False)
    app.dependency_overrides[deps.mysql] = lambda: None
    healthy = FakeHolder(lambda: store)

    def down() -> FakeStore:
        raise StackError("Cassandra at 127.0.0.1:9042: connection refused")

    app.state.cassandra = FakeHolder(down)
    with (serving(app) as url,
          httpx.stream("GET", f"{url}/leaderboards/quantity/stream", params={"limit": 1},
                       timeout=10) as response):
        assert response.status_code == 200
        received = events(response)
        name, body = next(received)
        assert name == "unavailable" and body["error"]["code"] == "service_unavailable"
        app.state.cassandra = healthy
        name, body = next(e for e in received if e[0] == "board")
        assert [e["product_name"] for e in body["entries"]] == ["Barton Smart Lamp"]
        store.entries.reverse()  # the mug now leads
        name, body = next(received)
        assert name == "board"
        assert [e["product_name"] for e in body["entries"]] == ["Tanaka Classic Mug"]


def test_boards_ends_the_stream_after_that_many_boards(store: FakeStore):  # noqa: F811
    settings = SETTINGS.replace(api_board_refresh_seconds=0.05)
    app = create_app(settings, publish_events=False)
    app.dependency_overrides[deps.mysql] = lambda: None
    app.state.cassandra = FakeHolder(lambda: store)
    with serving(app) as url:
        with httpx.stream("GET", f"{url}/leaderboards/quantity/stream",
                          params={"limit": 1, "boards": 1}, timeout=10) as response:
            assert response.status_code == 200
            assert [name for name, _ in events(response)] == ["board"]  # then the end
        with httpx.stream("GET", f"{url}/leaderboards/quantity/stream",
                          params={"limit": 1, "boards": 2}, timeout=10) as response:
            received = events(response)
            first = next(received)[1]
            store.entries.reverse()  # a change: the second board, then the end
            second = next(received)[1]
            assert [first["entries"][0]["product_name"], second["entries"][0]["product_name"]
                    ] == ["Barton Smart Lamp", "Tanaka Classic Mug"]
            assert list(received) == []
        bad = httpx.get(f"{url}/leaderboards/quantity/stream", params={"boards": 0})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "boards"
