"""Shipments moving along their flow (Processing -> ... -> Delivered), one step per call."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from topproducts.events import ShipmentUpdated
from topproducts.settings import Settings
from topproducts.shop.batch import WriteBatch
from topproducts.shop.lifecycle import CONFIRMED, DELIVERED
from topproducts.shop.model import WriteResult
from topproducts.shop.payments import pay_on_delivery
from topproducts.shop.reference import SHIPMENT_FLOW
from topproducts.shop.schema import Tables
from topproducts.shop.sql import int_list


def advance_shipments(
    cur, settings: Settings, limit: int, now: datetime | None = None
) -> WriteResult:
    """Move up to ``limit`` open shipments (oldest first) one step along the flow.

    On Delivered the shipment closes, the order becomes ``delivered``, and a
    pending pay-on-delivery payment becomes ``paid`` (with its event).
    """
    result = WriteResult()
    if limit <= 0:
        return result
    now = now or datetime.now(UTC)
    t = Tables.of(settings)
    batch = WriteBatch(settings, t, now)
    ts = batch.ts
    cur.execute(f"SELECT shipment_id, order_id, carrier, status FROM {t.shipments} "
                f"WHERE is_open = 1 ORDER BY shipment_id LIMIT %s FOR UPDATE", (limit,))
    moving = cur.fetchall()
    by_status: dict[str, list[int]] = defaultdict(list)
    delivered_orders: list[int] = []
    for shipment_id, order_id, carrier, status in moving:
        step = SHIPMENT_FLOW[SHIPMENT_FLOW.index(status) + 1]
        by_status[step].append(shipment_id)
        batch.rows["shipment_history"].append((shipment_id, step, ts))
        batch.event(ShipmentUpdated(order_id=order_id, shipment_id=shipment_id, carrier=carrier,
                                    status=step))
        if step == SHIPMENT_FLOW[-1]:
            delivered_orders.append(order_id)
    updates = 0
    for step, shipment_ids in by_status.items():
        done = step == SHIPMENT_FLOW[-1]
        cur.execute(f"UPDATE {t.shipments} SET status = %s, is_open = %s, updated_at = %s, "
                    f"delivered_at = %s WHERE shipment_id IN ({int_list(shipment_ids)})",
                    (step, 0 if done else 1, ts, ts if done else None))
        updates += len(shipment_ids)
    if delivered_orders:
        cur.execute(f"UPDATE {t.orders} SET status = %s WHERE order_id IN "
                    f"({int_list(delivered_orders)}) AND status = %s",
                    (DELIVERED, CONFIRMED))
        updates += len(delivered_orders)
        batch.rows["order_history"] += [(o, DELIVERED, ts) for o in delivered_orders]
        updates += pay_on_delivery(cur, batch, delivered_orders)
    rows, events = batch.flush(cur)
    result.advanced = len(moving)
    result.delivered = len(delivered_orders)
    result.rows, result.events = rows + updates, events
    return result
