"""Shipments and their history (``shipping_management``)."""

from __future__ import annotations

from typing import Any

from services.queries._sql import one, rows
from topproducts.db import Connection
from topproducts.settings import Settings
from topproducts.shop.schema import Tables

_COLUMNS = ("shipment_id, order_id, carrier, tracking_number, status, is_open AS open, "
            "created_at, updated_at, delivered_at")


def _with_history(conn: Connection, t: Tables, ship: dict[str, Any] | None) -> dict | None:
    if ship is None:
        return None
    ship["open"] = bool(ship["open"])
    ship["history"] = rows(conn, f"SELECT status, changed_at FROM {t.shipment_status_history} "
                                 "WHERE shipment_id = %s ORDER BY changed_at, id",
                           (ship["shipment_id"],))
    return ship


def get_shipment(conn: Connection, s: Settings, shipment_id: int) -> dict[str, Any] | None:
    t = Tables.of(s)
    return _with_history(conn, t, one(conn, f"SELECT {_COLUMNS} FROM {t.shipments} "
                                            "WHERE shipment_id = %s", (shipment_id,)))


def shipment_of_order(conn: Connection, s: Settings, order_id: int) -> dict[str, Any] | None:
    t = Tables.of(s)
    return _with_history(conn, t, one(conn, f"SELECT {_COLUMNS} FROM {t.shipments} "
                                            "WHERE order_id = %s", (order_id,)))
