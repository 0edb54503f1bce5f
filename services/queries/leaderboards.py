"""One item's totals in a (scope, window): all-time, or the sum of the window's panes."""

from __future__ import annotations

from typing import Any

from topproducts.leaderboards import LeaderboardStore


def item_totals(store: LeaderboardStore, scope: str, window_id: str,
                variant_id: int) -> dict[str, Any] | None:
    item = store.item_total(scope, window_id, variant_id)
    if item is None:
        return None
    return {"variant_id": item.variant_id, "product_id": item.product_id,
            "product_name": item.product_name, "material": item.material,
            "quantity": item.quantity, "revenue_usd": item.revenue_usd}
