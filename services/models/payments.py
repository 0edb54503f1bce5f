"""Payments of the simulated gateway."""

from __future__ import annotations

from services.models.common import Money, Out, UtcTime
from services.models.orders import Events


class Payment(Out):
    payment_id: int
    order_id: int
    mode: str
    method: str
    status: str
    amount: Money
    currency: str
    created_at: UtcTime
    updated_at: UtcTime


class PaymentReceipt(Out):
    payment: Payment
    events: Events
