"""Leaderboards (open reads): top N by metric, granularity, scope and window; pushed as
server-sent events; one variant's totals.

Boards are served from memory (:mod:`services.board_cache`): one watcher per process
re-reads every board in use every ``settings.api_board_refresh_seconds``, so a read lags
Cassandra by at most that period (plus one read), and ``/stream`` pushes a board as soon
as the watcher sees it change.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from services.board_cache import BoardCache, BoardKey
from services.deps import SettingsDep, Store
from services.errors import ApiError, responses
from services.models.common import MAX_ID
from services.models.leaderboards import (
    GranularityOut,
    ItemTotals,
    Leaderboard,
    Metric,
    Options,
    Scope,
    ScopeOut,
    WindowOut,
)
from services.patterns import WINDOW, WINDOW_RE
from services.queries.leaderboards import board_json, item_totals
from topproducts.countries import COUNTRIES, GLOBAL_SCOPE
from topproducts.leaderboards import (
    ALL_TIME,
    DEFAULT_GRANULARITY,
    Granularity,
    current_window_start,
    parse_duration,
    parse_window_id,
    window_id,
)
from topproducts.settings import Settings

router = APIRouter(prefix="/leaderboards", tags=["leaderboards"])

# The reads' limits, shared with services.fast_boards (which answers plain reads first)
DEFAULT_LIMIT, MAX_LIMIT = 10, 100  # ranks per board
MAX_WINDOW_TEXT = 40  # characters of a `window` parameter
WindowParam = Annotated[str, Query(
    min_length=1, max_length=MAX_WINDOW_TEXT, json_schema_extra={"pattern": WINDOW},
    description="`all` (all-time), `current` (the sliding window that ends now), or a window's "
                "UTC start such as `2026-11-25T08:00:00Z` (see `/leaderboards/options`): "
                "`YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z`, an offset `+HH:MM`, or neither "
                "(UTC), years 1000-2999. A window counts the lines of orders confirmed in "
                "[start, end) and not cancelled before its end (a later cancellation leaves "
                "it as it was); it is final once the stream's watermark (the latest event "
                "time less `TOPPRODUCTS_WATERMARK`) passes its end.")]
ScopeParam = Annotated[Scope, Query(description="`GLOBAL` or a country code.")]
ByParam = Annotated[Granularity, Query(
    description="What one ranked entry is: `product_material` (a product in one material, "
                "summed over sellers; the default), `product` (summed over materials and "
                "sellers) or `variant` (what one seller offers: product × material × seller).")]
LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many ranks.")]
GLOBAL = Scope(GLOBAL_SCOPE)
HEARTBEAT_SECONDS = 5.0  # an `alive` event this often when the board does not change


def _durations(settings: Settings) -> tuple[timedelta, timedelta]:
    return parse_duration(settings.window_duration), parse_duration(settings.window_slide)


def _window(start: datetime | None, settings: Settings) -> WindowOut:
    if start is None:
        return WindowOut(id=ALL_TIME, start=None, end=None)
    duration, _ = _durations(settings)
    return WindowOut(id=window_id(start), start=start, end=start + duration)


def resolve_window(text: str, settings: Settings, now: datetime | None = None) -> WindowOut:
    """``all`` / ``current`` / an ISO start -> the window; ValueError if it is none of those
    (the forms are :data:`services.patterns.WINDOW`, the parameter's pattern)."""
    if not WINDOW_RE.fullmatch(text):
        raise ValueError(f"not a window: {text!r} (use 'all', 'current' or a UTC start time "
                         "such as 2026-11-25T08:00:00Z)")
    if text.lower() == ALL_TIME:
        return _window(None, settings)
    if text.lower() == "current":
        duration, slide = _durations(settings)
        return _window(current_window_start(now or datetime.now(UTC), duration, slide), settings)
    try:
        return _window(parse_window_id(text), settings)
    except (ValueError, OverflowError):
        raise ValueError(f"not a window: {text!r} (use 'all', 'current' or an ISO start "
                         "time)") from None


def _resolve(text: str, settings: Settings) -> WindowOut:
    try:
        return resolve_window(text, settings)
    except ValueError as exc:
        raise ApiError(422, "invalid_input", str(exc), "window") from None


def _boards(request: Request) -> BoardCache:
    return request.app.state.boards


def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def board_body(app: FastAPI, key: BoardKey, window: WindowOut, limit: int
                     ) -> tuple[bytes, int]:
    """The JSON of a board (from the app's board cache) and the board's version."""
    currency = app.state.settings.reporting_currency
    return await app.state.boards.body(
        key, limit, lambda board: board_json(board, window, currency, limit))


@router.get("/options",
            summary="What the selectors offer: metrics, granularities, scopes, windows",
            response_model=Options, responses=responses())
def options(settings: SettingsDep, store: Store,
            scope: ScopeParam = GLOBAL) -> Options:
    windows = [_window(w.start, settings) for w in store.windows(scope.value, limit=48)]
    return Options(
        metrics=list(Metric),
        granularities=[GranularityOut(code=g, label=g.label) for g in Granularity],
        default_granularity=DEFAULT_GRANULARITY,
        scopes=[ScopeOut(code=GLOBAL_SCOPE, name="All countries", currency=None),
                *(ScopeOut(code=c.code, name=c.name, currency=c.currency) for c in COUNTRIES)],
        windows=windows,
        current_window=resolve_window("current", settings),
        window_duration=settings.window_duration,
        window_slide=settings.window_slide,
        top_n=settings.top_n,
        currency=settings.reporting_currency,
    )


@router.get("/items/{variant_id}",
            summary="One variant's exact totals in a scope and window",
            response_model=ItemTotals, responses=responses(404))
def item(
    variant_id: Annotated[int, Path(ge=1, le=MAX_ID, description="Variant id.")],
    settings: SettingsDep, store: Store,
    scope: ScopeParam = GLOBAL,
    window: WindowParam = ALL_TIME,
) -> ItemTotals:
    """404 when the item sold nothing (yet) in that scope and window."""
    w = _resolve(window, settings)
    found = item_totals(store, scope.value, w.id, variant_id)
    if found is None:
        raise ApiError(404, "not_found", f"variant {variant_id} has no totals in "
                       f"{scope.value}, window {w.id}", "variant_id")
    return ItemTotals(scope=scope, window=w, updated_at=None, **found)


@router.get("/{metric}", summary="Top N products by quantity or revenue",
            response_model=Leaderboard, responses=responses())
async def top(
    request: Request,
    metric: Annotated[Metric, Path(description="`quantity` (units) or `revenue` (USD).")],
    scope: ScopeParam = GLOBAL,
    window: WindowParam = ALL_TIME,
    by: ByParam = DEFAULT_GRANULARITY,
    limit: LimitParam = DEFAULT_LIMIT,
) -> Response:
    """One Cassandra partition, exactly as the stream wrote it, served from memory: at most
    `api_board_refresh_seconds` (0.1 s) behind Cassandra."""
    w = _resolve(window, _settings(request))
    body, _ = await board_body(request.app, (metric, by, scope.value, w.id), w, limit)
    return Response(body, media_type="application/json")


_SSE_DOC = """A `text/event-stream` of the board (as `GET /leaderboards/{metric}`): an event
`board` with the board at once, then one each time it changes (within
`api_board_refresh_seconds` of Cassandra having it), an event `alive` every 5 s in
between, and an event `unavailable` (an error body) each second Cassandra cannot be read.
`window=current` follows the sliding window as it moves. With `boards=N` the stream ends
after its N-th `board` event (a snapshot for a script: `boards=1`); without, it never ends."""


def _json_data(component: str) -> dict:
    """An event's ``data``: a JSON document of the ``component`` schema."""
    return {"type": "string", "contentMediaType": "application/json",
            "contentSchema": {"$ref": f"#/components/schemas/{component}"}}


# One event of the stream (OpenAPI 3.1: a text/event-stream `schema` describes each event,
# as its `event`, `data`, `id` and `retry` fields); the `retry` line alone is not an event.
SSE_EVENT = {
    "type": "object", "required": ["event", "data"],
    "properties": {"event": {"enum": ["board", "alive", "unavailable"]},
                   "data": {"type": "string"}, "id": {"type": "string"},
                   "retry": {"type": "integer"}},
    "oneOf": [
        {"properties": {"event": {"const": "board"}, "data": _json_data("Leaderboard")}},
        {"properties": {"event": {"const": "alive"}, "data": {"const": "{}"}}},
        {"properties": {"event": {"const": "unavailable"},
                        "data": _json_data("ErrorResponse")}},
    ],
}


@router.get("/{metric}/stream", summary="The board, pushed when it changes (server-sent events)",
            description=_SSE_DOC, response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                             "description": "`event: board` / `data: <Leaderboard JSON>`, "
                                            "`event: alive` / `data: {}`, `event: unavailable` "
                                            "/ `data: <ErrorResponse JSON>`"},
                       **responses()})
async def stream(
    request: Request,
    metric: Annotated[Metric, Path(description="`quantity` (units) or `revenue` (USD).")],
    scope: ScopeParam = GLOBAL,
    window: WindowParam = ALL_TIME,
    by: ByParam = DEFAULT_GRANULARITY,
    limit: LimitParam = DEFAULT_LIMIT,
    boards: Annotated[int | None, Query(ge=1, le=10_000, description=(
        "End the stream after this many `board` events (unset: never)."))] = None,
) -> StreamingResponse:
    _resolve(window, _settings(request))  # a bad window is a 422 before the stream starts
    _boards(request).start()  # started by the app's lifespan; this covers an app without one
    return StreamingResponse(
        _events(request, metric, by, scope.value, window, limit, boards),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(request: Request, metric: Metric, by: Granularity, scope: str, window: str,
                  limit: int, boards: int | None = None) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"  # EventSource reconnects after 1 s
    sent: bytes | None = None
    left = boards  # `board` events still to send (None: no end)
    while True:
        w = resolve_window(window, _settings(request))  # `current` moves on
        key = (metric, by, scope, w.id)
        try:
            body, version = await board_body(request.app, key, w, limit)
        except Exception as exc:  # Cassandra unreachable: say so, keep the stream open
            message = json.dumps({"error": {"code": "service_unavailable",
                                            "message": f"cannot read the board ({exc})"}})
            yield f"event: unavailable\ndata: {message}\n\n".encode()
            sent = None
            await asyncio.sleep(1.0)
            continue
        if body != sent:
            yield b"event: board\ndata: " + body + b"\n\n"
            sent = body
            if left is not None:
                left -= 1
                if left == 0:
                    return
        if not await _boards(request).wait_change(key, version, HEARTBEAT_SECONDS):
            yield b"event: alive\ndata: {}\n\n"

