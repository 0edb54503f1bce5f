"""One item's totals: the single-row read the leaderboard store has no method for."""

from __future__ import annotations

import weakref
from datetime import UTC, datetime
from typing import Any

from cassandra.query import PreparedStatement

from topproducts.leaderboards import LeaderboardStore

_ITEM_CQL = ("SELECT variant_id, product_id, product_name, material, quantity, revenue_usd, "
             "window_start, window_end, updated_at FROM {ks}.item_totals "
             "WHERE scope = ? AND window_id = ? AND variant_id = ?")
_prepared: weakref.WeakKeyDictionary[LeaderboardStore, PreparedStatement] = (
    weakref.WeakKeyDictionary())


def _utc(v: datetime | None) -> datetime | None:
    return None if v is None else v.replace(tzinfo=UTC) if v.tzinfo is None else v


def item_totals(store: LeaderboardStore, scope: str, window_id: str,
                variant_id: int) -> dict[str, Any] | None:
    stmt = _prepared.get(store)
    if stmt is None:
        stmt = _prepared[store] = store.session.prepare(_ITEM_CQL.format(ks=store.ks))
    row = store.session.execute(stmt, (scope, window_id, variant_id)).one()
    if row is None:
        return None
    return {"variant_id": row.variant_id, "product_id": row.product_id,
            "product_name": row.product_name, "material": row.material,
            "quantity": row.quantity, "revenue_usd": row.revenue_usd,
            "window_start": _utc(row.window_start), "window_end": _utc(row.window_end),
            "updated_at": _utc(row.updated_at)}
