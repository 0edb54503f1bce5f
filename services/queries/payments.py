"""Payments (``transaction_management``)."""

from __future__ import annotations

from typing import Any

from services.queries._sql import one
from topproducts.db import Connection
from topproducts.settings import Settings
from topproducts.shop.payments import PAYMENT_COLUMNS as _COLUMNS
from topproducts.shop.schema import Tables


def get_payment(conn: Connection, s: Settings, payment_id: int) -> dict[str, Any] | None:
    return one(conn, f"SELECT {_COLUMNS} FROM {Tables.of(s).payments} WHERE payment_id = %s",
               (payment_id,))


def payment_of_order(conn: Connection, s: Settings, order_id: int) -> dict[str, Any] | None:
    return one(conn, f"SELECT {_COLUMNS} FROM {Tables.of(s).payments} WHERE order_id = %s",
               (order_id,))
