"""Shipments and their status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.deps import MySQL, SettingsDep
from services.errors import not_found, responses
from services.models.common import MAX_ID
from services.models.shipments import Shipment
from services.queries import shipments as q

router = APIRouter(tags=["shipments"])

ShipmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="Shipment id.")]
OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="Order id.")]


@router.get("/shipments/{shipment_id}", summary="Read a shipment and its status history",
            response_model=Shipment, responses=responses(404))
def get_shipment(shipment_id: ShipmentId, conn: MySQL, settings: SettingsDep) -> Shipment:
    found = q.get_shipment(conn, settings, shipment_id)
    if found is None:
        raise not_found("shipment", shipment_id, "shipment_id")
    return Shipment.model_validate(found)


@router.get("/orders/{order_id}/shipment", summary="Read an order's shipment",
            response_model=Shipment, responses=responses(404), tags=["orders"])
def shipment_of_order(order_id: OrderId, conn: MySQL, settings: SettingsDep) -> Shipment:
    """404 when the order is unknown or has no shipment (it was never confirmed)."""
    found = q.shipment_of_order(conn, settings, order_id)
    if found is None:
        raise not_found("shipment of order", order_id, "order_id")
    return Shipment.model_validate(found)
