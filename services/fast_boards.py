"""The hot read, ``GET /leaderboards/{metric}``, answered before FastAPI's routing.

Routing and parameter solving cost FastAPI ~140 µs of CPU per request, several times
the cost of answering from memory (:mod:`services.board_cache`). This ASGI middleware
answers the plain case itself: a known metric and only ``by``, ``scope``, ``window``
and ``limit`` with values the route accepts. Anything else (another path or method,
an unknown or repeated parameter, a value the route would reject, a board that must
be read from Cassandra and fails) goes to the route unchanged, so the route stays the
one contract: its OpenAPI document, its 422s and 503s. A test checks that both answer
the same bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from services.models.leaderboards import Scope
from services.routes.leaderboards import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_WINDOW_TEXT,
    board_body,
    resolve_window,
)
from topproducts.countries import GLOBAL_SCOPE
from topproducts.leaderboards import ALL_TIME, DEFAULT_GRANULARITY, Granularity, Metric

Scope_ = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope_, Receive, Send], Awaitable[None]]

_PATHS = {f"/leaderboards/{m.value}": m for m in Metric}
_BY = {g.value: g for g in Granularity}
_SCOPES = {s.value for s in Scope}
_PARAMS = {"by", "scope", "window", "limit"}
_HEADERS = [(b"content-type", b"application/json")]


def plain_query(query: bytes) -> dict[str, str] | None:
    """The parameters, if each is known and given once; None sends the request to the route."""
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    params = dict(pairs)
    if len(params) != len(pairs) or not params.keys() <= _PARAMS:
        return None
    return params


class FastBoards:
    """ASGI middleware in front of the app; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope_, receive: Receive, send: Send) -> None:
        metric = _PATHS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if metric is None or scope["method"] != "GET" or not await self._answer(
                metric, scope, send):
            await self.app(scope, receive, send)

    async def _answer(self, metric: Metric, scope: Scope_, send: Send) -> bool:
        params = plain_query(scope.get("query_string", b""))
        if params is None:
            return False
        by = _BY.get(params.get("by", DEFAULT_GRANULARITY.value))
        where = params.get("scope", GLOBAL_SCOPE)
        limit_text = params.get("limit", str(DEFAULT_LIMIT))
        if (by is None or where not in _SCOPES or not limit_text.isdigit()
                or not 1 <= int(limit_text) <= MAX_LIMIT):
            return False
        window_text = params.get("window", ALL_TIME)
        if not 1 <= len(window_text) <= MAX_WINDOW_TEXT:
            return False
        app = scope["app"]  # set by Starlette before its middleware runs
        try:
            window = resolve_window(window_text, app.state.settings)
        except ValueError:
            return False
        try:
            body, _ = await board_body(app, (metric, by, where, window.id), window,
                                       int(limit_text))
        except Exception:  # let the route read it again and answer its 503
            return False
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return True
