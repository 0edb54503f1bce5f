"""Payments (``transaction_management``), and collecting a pay-on-delivery payment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymysql.connections import Connection

from services.queries._sql import one
from topproducts.events import PaymentRecorded, make_event
from topproducts.settings import Settings
from topproducts.shop import outbox
from topproducts.shop.schema import Tables

_COLUMNS = ("payment_id, order_id, mode, method, status, amount, currency, created_at, "
            "updated_at")


def get_payment(conn: Connection, s: Settings, payment_id: int) -> dict[str, Any] | None:
    return one(conn, f"SELECT {_COLUMNS} FROM {Tables.of(s).payments} WHERE payment_id = %s",
               (payment_id,))


def payment_of_order(conn: Connection, s: Settings, order_id: int) -> dict[str, Any] | None:
    return one(conn, f"SELECT {_COLUMNS} FROM {Tables.of(s).payments} WHERE order_id = %s",
               (order_id,))


def collect(conn: Connection, s: Settings, payment_id: int) -> tuple[str, dict | None, int]:
    """Mark a pending pay-on-delivery payment paid, with its ``payment_recorded`` event.

    The same change (and event) the shop makes when a pay-on-delivery order is
    delivered; here the customer pays earlier. Returns (outcome, payment, events)
    with outcome ``paid``, ``missing`` or ``not_pending``.
    """
    t = Tables.of(s)
    now = datetime.now(UTC)
    ts = outbox.naive_utc(now)
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM {t.payments} WHERE payment_id = %s FOR UPDATE",
                    (payment_id,))
        row = cur.fetchone()
        if row is None:
            return "missing", None, 0
        p = dict(zip([d[0] for d in cur.description], row, strict=True))
        if p["status"] != "pending":
            return "not_pending", p, 0
        cur.execute(f"UPDATE {t.payments} SET status = 'paid', updated_at = %s "
                    "WHERE payment_id = %s", (ts, payment_id))
        event = make_event(PaymentRecorded(
            order_id=p["order_id"], payment_id=payment_id, mode=p["mode"], method=p["method"],
            status="paid", amount=p["amount"], currency=p["currency"]), now)
        written = outbox.write(cur, t, outbox.outbox_rows(s, [event], now))
    return "paid", {**p, "status": "paid", "updated_at": ts}, written
