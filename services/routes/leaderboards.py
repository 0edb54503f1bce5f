"""Leaderboards (open reads): top N by metric, scope and window; one item's totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.deps import SettingsDep, Store
from services.errors import ApiError, responses
from services.models.leaderboards import (
    Entry,
    ItemTotals,
    Leaderboard,
    Metric,
    Options,
    Scope,
    ScopeOut,
    WindowOut,
)
from services.queries.leaderboards import item_totals
from topproducts.countries import COUNTRIES, GLOBAL_SCOPE
from topproducts.leaderboards import (
    ALL_TIME,
    current_window_start,
    parse_duration,
    parse_window_id,
    window_id,
)
from topproducts.money import money_str
from topproducts.settings import Settings

router = APIRouter(prefix="/leaderboards", tags=["leaderboards"])

WindowParam = Annotated[str, Query(
    min_length=1, max_length=40,
    description="`all` (all-time), `current` (the sliding window that ends now), or a window's "
                "UTC start such as `2026-11-25T08:00:00Z` (see `/leaderboards/options`).")]
ScopeParam = Annotated[Scope, Query(description="`GLOBAL` or a country code.")]
GLOBAL = Scope(GLOBAL_SCOPE)


def _durations(settings: Settings) -> tuple[timedelta, timedelta]:
    return parse_duration(settings.window_duration), parse_duration(settings.window_slide)


def _window(start: datetime | None, settings: Settings) -> WindowOut:
    if start is None:
        return WindowOut(id=ALL_TIME, start=None, end=None)
    duration, _ = _durations(settings)
    return WindowOut(id=window_id(start), start=start, end=start + duration)


def resolve_window(text: str, settings: Settings, now: datetime | None = None) -> WindowOut:
    """``all`` / ``current`` / an ISO start -> the window; ValueError if it is none of those."""
    text = text.strip()
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


def _value(metric: Metric, value) -> str:
    return str(int(value)) if metric is Metric.QUANTITY else money_str(value)


@router.get("/options", summary="What the selectors offer: metrics, scopes, windows",
            response_model=Options, responses=responses())
def options(settings: SettingsDep, store: Store,
            scope: ScopeParam = GLOBAL) -> Options:
    windows = [_window(w.start, settings) for w in store.windows(scope.value, limit=48)]
    return Options(
        metrics=list(Metric),
        scopes=[ScopeOut(code=GLOBAL_SCOPE, name="All countries", currency=None),
                *(ScopeOut(code=c.code, name=c.name, currency=c.currency) for c in COUNTRIES)],
        windows=windows,
        current_window=resolve_window("current", settings),
        window_duration=settings.window_duration,
        window_slide=settings.window_slide,
        top_n=settings.top_n,
        currency=settings.reporting_currency,
    )


@router.get("/items/{variant_id}", summary="One item's exact totals in a scope and window",
            response_model=ItemTotals, responses=responses(404))
def item(
    variant_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="Variant id.")],
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
def top(
    metric: Annotated[Metric, Path(description="`quantity` (units) or `revenue` (USD).")],
    settings: SettingsDep, store: Store,
    scope: ScopeParam = GLOBAL,
    window: WindowParam = ALL_TIME,
    limit: Annotated[int, Query(ge=1, le=100, description="How many ranks.")] = 10,
) -> Leaderboard:
    """One Cassandra partition read; the values are what the stream wrote, exactly."""
    w = _resolve(window, settings)
    board = store.top(metric, scope.value, w.id, n=limit)
    return Leaderboard(
        metric=metric, scope=scope, window=w, currency=settings.reporting_currency,
        updated_at=board.updated_at,
        entries=[Entry(rank=r.rank, variant_id=r.item.variant_id, product_id=r.item.product_id,
                       product_name=r.item.product_name, material=r.item.material,
                       value=_value(metric, r.value), quantity=r.item.quantity,
                       revenue_usd=r.item.revenue_usd) for r in board.entries],
    )
