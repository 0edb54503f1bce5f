"""Shipments and their status progression."""

from __future__ import annotations

from services.models.common import Out, UtcTime
from services.models.orders import StatusChange


class Shipment(Out):
    shipment_id: int
    order_id: int
    carrier: str
    tracking_number: str
    status: str
    open: bool
    created_at: UtcTime
    updated_at: UtcTime
    delivered_at: UtcTime | None
    history: list[StatusChange]
