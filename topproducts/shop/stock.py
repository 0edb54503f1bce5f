"""Stock of the variants: locked, taken and given back by orders, topped up, or set.

Every function works on the caller's cursor, inside the caller's transaction.
Stock changes emit no event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from topproducts.settings import Settings
from topproducts.shop.schema import Tables
from topproducts.shop.sql import int_list, naive_utc


def lock_stock(cur, tables: Tables, variant_ids: Sequence[int]) -> dict[int, int]:
    """Stock of the existing variants among ``variant_ids``, row-locked until the commit."""
    ids = sorted(set(variant_ids))  # one lock order for everyone: fewer deadlocks
    cur.execute(f"SELECT variant_id, stock FROM {tables.variants} "
                f"WHERE variant_id IN ({int_list(ids)}) ORDER BY variant_id FOR UPDATE")
    return dict(cur.fetchall())


def replace_stock(cur, tables: Tables, stock: dict[int, int], ts: datetime) -> None:
    """Set the stock of each variant id to the given number (one UPDATE)."""
    _update_stock(cur, tables, stock, ts, "")


def add_stock(cur, tables: Tables, delta: dict[int, int], ts: datetime) -> None:
    """Add (or with negative values remove) units of stock per variant id."""
    _update_stock(cur, tables, delta, ts, "stock + ")


def _update_stock(cur, tables: Tables, values: dict[int, int], ts: datetime,
                  base: str) -> None:
    """One UPDATE: ``stock = <base>CASE variant_id WHEN id THEN value ... END``."""
    if not values:
        return
    ids = sorted(values)
    cases = " ".join([f"WHEN {int_list([vid])} THEN {int_list([values[vid]])}"
                      for vid in ids])
    cur.execute(f"UPDATE {tables.variants} SET stock = {base}CASE variant_id {cases} END, "
                f"updated_at = %s WHERE variant_id IN ({int_list(ids)})", (ts,))


def set_stock(cur, settings: Settings, variant_id: int, stock: int,
              now: datetime | None = None) -> bool:
    """Set one variant's stock (the inventory API); False when the variant does not exist."""
    t = Tables.of(settings)
    ts = naive_utc(now or datetime.now(UTC))
    cur.execute(f"SELECT variant_id FROM {t.variants} WHERE variant_id = %s FOR UPDATE",
                (variant_id,))
    if cur.fetchone() is None:
        return False
    cur.execute(f"UPDATE {t.variants} SET stock = %s, updated_at = %s WHERE variant_id = %s",
                (stock, ts, variant_id))
    return True
