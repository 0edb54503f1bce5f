"""Cancelling confirmed (or delivered: a return) orders: stock back, shipment stopped or
returned, and an ``order_cancelled`` event that carries ``confirmed_at`` so the leaderboards
retract."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from topproducts.events import LineItem, OrderCancelled, ShipmentUpdated
from topproducts.settings import Settings
from topproducts.shop.batch import WriteBatch
from topproducts.shop.lifecycle import CANCELLED, CONFIRMED, CUSTOMER_REQUEST, DELIVERED
from topproducts.shop.model import WriteResult
from topproducts.shop.reference import SHIPMENT_CANCELLED, SHIPMENT_FLOW, SHIPMENT_RETURNED
from topproducts.shop.schema import Tables
from topproducts.shop.sql import aware_utc, placeholders
from topproducts.shop.stock import add_stock


def cancel_orders(
    cur,
    settings: Settings,
    order_ids: Iterable[int],
    reason: str = CUSTOMER_REQUEST,
    now: datetime | None = None,
) -> WriteResult:
    """Cancel confirmed or delivered orders; others (placed, already cancelled) are left
    alone.

    Restores their stock, stops the shipment (Cancelled) or marks it sent back (Returned,
    once delivered), and emits ``order_cancelled`` with the original ``confirmed_at``.
    ``result.cancelled`` lists the orders that were cancelled.
    """
    result = WriteResult()
    ids = sorted(set(order_ids))
    if not ids:
        return result
    now = now or datetime.now(UTC)
    t = Tables.of(settings)
    batch = WriteBatch(settings, t, now)
    ts = batch.ts
    cur.execute(
        f"SELECT o.order_id, o.customer_id, o.country_code, o.currency, o.fx_rate_usd, o.total, "
        f"o.confirmed_at, s.shipment_id, s.carrier, s.status FROM {t.orders} o "
        f"JOIN {t.shipments} s ON s.order_id = o.order_id "
        f"WHERE o.order_id IN ({placeholders(ids)}) AND o.status IN (%s, %s) "
        f"ORDER BY o.order_id FOR UPDATE",
        [*ids, CONFIRMED, DELIVERED])
    orders = cur.fetchall()
    if not orders:
        return result
    found = [row[0] for row in orders]
    cur.execute(
        f"SELECT i.order_id, i.line_no, i.variant_id, i.product_id, i.product_name, "
        f"i.material, i.quantity, i.unit_price, i.revenue, i.revenue_usd, s.name "
        f"FROM {t.order_items} i JOIN {t.variants} v ON v.variant_id = i.variant_id "
        f"JOIN {t.sellers} s ON s.seller_id = v.seller_id "
        f"WHERE i.order_id IN ({placeholders(found)}) ORDER BY i.order_id, i.line_no", found)
    items: dict[int, list[LineItem]] = defaultdict(list)
    restock: dict[int, int] = defaultdict(int)
    for (order_id, line_no, variant_id, product_id, name, material, qty, unit, revenue,
         revenue_usd, seller) in cur.fetchall():
        items[order_id].append(LineItem(
            line_no=line_no, variant_id=variant_id, product_id=product_id, product_name=name,
            material=material, quantity=qty, unit_price=unit, revenue=revenue,
            revenue_usd=revenue_usd, seller=seller))
        restock[variant_id] += qty
    shipments: dict[str, list[int]] = defaultdict(list)  # new status -> shipment ids
    for (order_id, customer_id, country, currency, fx, total, confirmed_at, shipment_id,
         carrier, shipped) in orders:
        status = SHIPMENT_RETURNED if shipped == SHIPMENT_FLOW[-1] else SHIPMENT_CANCELLED
        batch.event(OrderCancelled(
            order_id=order_id, customer_id=customer_id, country=country, currency=currency,
            fx_rate_usd=fx, total=total, items=items[order_id], reason=reason,
            confirmed_at=aware_utc(confirmed_at)))
        batch.event(ShipmentUpdated(order_id=order_id, shipment_id=shipment_id, carrier=carrier,
                                    status=status))
        batch.rows["order_history"].append((order_id, CANCELLED, ts))
        batch.rows["shipment_history"].append((shipment_id, status, ts))
        shipments[status].append(shipment_id)
    cur.execute(f"UPDATE {t.orders} SET status = %s, cancelled_at = %s, cancel_reason = %s "
                f"WHERE order_id IN ({placeholders(found)})", [CANCELLED, ts, reason, *found])
    for status, shipment_ids in shipments.items():
        cur.execute(f"UPDATE {t.shipments} SET status = %s, is_open = 0, updated_at = %s "
                    f"WHERE shipment_id IN ({placeholders(shipment_ids)})",
                    [status, ts, *shipment_ids])
    add_stock(cur, t, dict(restock), ts)
    rows, events = batch.flush(cur)
    result.cancelled = found
    result.rows = rows + 2 * len(found) + len(restock)
    result.events = events
    return result
