"""Pay-on-delivery payments becoming ``paid``: on delivery, or when the customer pays earlier.

Both make the same change and emit the same ``payment_recorded`` event, on the
caller's cursor and in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from topproducts.events import PaymentRecorded, make_event
from topproducts.settings import Settings
from topproducts.shop import outbox
from topproducts.shop.batch import WriteBatch
from topproducts.shop.schema import Tables
from topproducts.shop.sql import int_list, naive_utc

PAYMENT_COLUMNS = ("payment_id, order_id, mode, method, status, amount, currency, created_at, "
                   "updated_at")


def pay_on_delivery(cur, batch: WriteBatch, order_ids: Sequence[int]) -> int:
    """Mark the pending payments of delivered orders paid, with their events (in ``batch``).

    Returns the number of payments updated.
    """
    t, ts = batch.t, batch.ts
    cur.execute(f"SELECT payment_id, order_id, mode, method, amount, currency "
                f"FROM {t.payments} WHERE order_id IN ({int_list(order_ids)}) "
                f"AND status = 'pending' FOR UPDATE")
    pending = cur.fetchall()
    if pending:
        cur.execute(f"UPDATE {t.payments} SET status = 'paid', updated_at = %s "
                    f"WHERE payment_id IN ({int_list([p[0] for p in pending])})", (ts,))
    for payment_id, order_id, mode, method, amount, currency in pending:
        batch.event(PaymentRecorded(order_id=order_id, payment_id=payment_id, mode=mode,
                                    method=method, status="paid", amount=amount,
                                    currency=currency))
    return len(pending)


@dataclass(frozen=True)
class Collection:
    """What :func:`collect_payment` did: ``paid``, or why not (``missing``, ``not_pending``).

    ``payment`` is the payment's row as a dict (after the change when paid), None when
    missing; ``events`` the events written.
    """

    outcome: Literal["paid", "missing", "not_pending"]
    payment: dict[str, Any] | None
    events: int


def collect_payment(cur, settings: Settings, payment_id: int,
                    now: datetime | None = None) -> Collection:
    """Mark a pending pay-on-delivery payment paid, with its ``payment_recorded`` event.

    The same change (and event) the shop makes when a pay-on-delivery order is
    delivered; here the customer pays earlier.
    """
    t = Tables.of(settings)
    now = now or datetime.now(UTC)
    ts = naive_utc(now)
    cur.execute(f"SELECT {PAYMENT_COLUMNS} FROM {t.payments} WHERE payment_id = %s FOR UPDATE",
                (payment_id,))
    row = cur.fetchone()
    if row is None:
        return Collection("missing", None, 0)
    p = dict(zip([d[0] for d in cur.description], row, strict=True))
    if p["status"] != "pending":
        return Collection("not_pending", p, 0)
    cur.execute(f"UPDATE {t.payments} SET status = 'paid', updated_at = %s "
                "WHERE payment_id = %s", (ts, payment_id))
    event = make_event(PaymentRecorded(
        order_id=p["order_id"], payment_id=payment_id, mode=p["mode"], method=p["method"],
        status="paid", amount=p["amount"], currency=p["currency"]), now)
    written = outbox.write(cur, t, outbox.outbox_rows(settings, [event], now))
    return Collection("paid", {**p, "status": "paid", "updated_at": ts}, written)
