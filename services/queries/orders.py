"""Orders, their lines, status history, payment and shipment (read side)."""

from __future__ import annotations

from typing import Any

from services.queries._sql import one, rows
from topproducts.db import Connection
from topproducts.settings import Settings
from topproducts.shop.schema import Tables

_SUMMARY = ("order_id, customer_id, country_code AS country, currency, status, total, "
            "revenue_usd, placed_at")
_ORDER = (_SUMMARY + ", payment_mode, fx_rate_usd, subtotal, discount, tax, revenue, "
          "confirmed_at, cancelled_at, cancel_reason")


def list_orders(conn: Connection, s: Settings, customer_id: int | None, status: str | None,
                limit: int, offset: int) -> list[dict[str, Any]]:
    t = Tables.of(s)
    where: list[str] = []
    params: list[object] = []
    if customer_id is not None:
        where.append("customer_id = %s")
        params.append(customer_id)
    if status is not None:
        where.append("status = %s")
        params.append(status)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return rows(conn, f"SELECT {_SUMMARY} FROM {t.orders} {clause} "
                      "ORDER BY order_id DESC LIMIT %s OFFSET %s", [*params, limit, offset])


def exists(conn: Connection, s: Settings, order_id: int) -> bool:
    return one(conn, f"SELECT 1 AS x FROM {Tables.of(s).orders} WHERE order_id = %s",
               (order_id,)) is not None


def get_order(conn: Connection, s: Settings, order_id: int) -> dict[str, Any] | None:
    t = Tables.of(s)
    order = one(conn, f"SELECT {_ORDER} FROM {t.orders} WHERE order_id = %s", (order_id,))
    if order is None:
        return None
    order["lines"] = rows(conn, (
        f"SELECT line_no, variant_id, product_id, product_name, material, quantity, unit_price, "
        f"subtotal, discount, tax, line_total, revenue, revenue_usd FROM {t.order_items} "
        f"WHERE order_id = %s ORDER BY line_no"), (order_id,))
    order["payment"] = one(conn, f"SELECT payment_id, mode, method, status FROM {t.payments} "
                                 "WHERE order_id = %s", (order_id,))
    order["shipment"] = one(conn, f"SELECT shipment_id, carrier, tracking_number, status "
                                  f"FROM {t.shipments} WHERE order_id = %s", (order_id,))
    return order


def history(conn: Connection, s: Settings, order_id: int) -> list[dict[str, Any]]:
    t = Tables.of(s)
    return rows(conn, f"SELECT status, changed_at FROM {t.order_status_history} "
                      "WHERE order_id = %s ORDER BY changed_at, id", (order_id,))
