"""Outbox rows carry what the relay needs: the full topic, the order key, the encoded event."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from topproducts.events import (
    CustomerCreated,
    LineItem,
    OrderPlaced,
    ShipmentUpdated,
    decode,
    make_event,
)
from topproducts.settings import Settings
from topproducts.shop import outbox

NOW = datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=UTC)


def test_outbox_rows() -> None:
    item = LineItem(line_no=1, variant_id=11, product_id=1, product_name="Boone Sleek Chair",
                    material="Wood", quantity=2, unit_price=D("10.00"), revenue=D("18.00"),
                    revenue_usd=D("0.22"))
    events = [
        make_event(OrderPlaced(order_id=7, customer_id=3, country="IN", currency="INR",
                               fx_rate_usd=D("0.012000"), total=D("21.24"), items=[item],
                               payment_mode="prepaid"), NOW),
        make_event(ShipmentUpdated(order_id=7, shipment_id=9, carrier="UPS", status="Shipped"),
                   NOW),
        make_event(CustomerCreated(customer_id=3, country="IN", city="Pune"), NOW),
    ]
    rows = outbox.outbox_rows(Settings(kafka_topic_prefix="t1"), events, NOW)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("order_placed", "t1.orders", "7"),
        ("shipment_updated", "t1.shipments", "7"),
        ("customer_created", "t1.customers", "3"),
    ]
    for row, event in zip(rows, events, strict=True):
        assert row[0] == str(event.event_id)
        assert decode(row[4]) == event
        assert row[5] == datetime(2026, 11, 25, 8, 0, 0, 123456)  # naive UTC for DATETIME(6)
