"""Leaderboard reads: a board as the API's JSON; one variant's totals in a (scope, window)."""

from __future__ import annotations

from typing import Any

from services.models.leaderboards import Entry, Leaderboard, Scope, WindowOut
from topproducts.leaderboards import Leaderboard as StoredBoard
from topproducts.leaderboards import LeaderboardStore, Metric, Ranked
from topproducts.money import money_str


def value_text(metric: Metric, value) -> str:
    """The ranked value as the API shows it: whole units, or USD with two places."""
    return str(int(value)) if metric is Metric.QUANTITY else money_str(value)


def entry(metric: Metric, r: Ranked) -> Entry:
    i = r.item
    return Entry(rank=r.rank, name=i.name, product_id=i.product_id, product_name=i.product_name,
                 material=i.material, variant_id=i.variant_id, seller=i.seller,
                 value=value_text(metric, r.value), quantity=i.quantity,
                 revenue_usd=i.revenue_usd)


def board_model(board: StoredBoard, window: WindowOut, currency: str, limit: int
                ) -> Leaderboard:
    return Leaderboard(metric=board.metric, by=board.by, scope=Scope(board.scope), window=window,
                       currency=currency, updated_at=board.updated_at,
                       entries=[entry(board.metric, r) for r in board.entries[:limit]])


def board_json(board: StoredBoard, window: WindowOut, currency: str, limit: int) -> bytes:
    """The response body of ``GET /leaderboards/{metric}``, rendered once per board change."""
    return board_model(board, window, currency, limit).model_dump_json().encode()


def item_totals(store: LeaderboardStore, scope: str, window_id: str,
                variant_id: int) -> dict[str, Any] | None:
    item = store.item_total(scope, window_id, variant_id)
    if item is None:
        return None
    return {"variant_id": item.variant_id, "product_id": item.product_id,
            "product_name": item.product_name, "material": item.material or "",
            "seller": item.seller, "name": item.name,
            "quantity": item.quantity, "revenue_usd": item.revenue_usd}
