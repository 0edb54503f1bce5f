"""Outbox rows carry what the relay needs: the full topic, the order key, the encoded event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from topproducts.events import (
    CustomerCreated,
    LineItem,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    PaymentRecorded,
    ShipmentUpdated,
    decode,
    encode,
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


def test_event_rows_are_the_outbox_rows_of_the_envelopes_byte_for_byte() -> None:
    item = LineItem(line_no=1, variant_id=11, product_id=1,
                    product_name="O'Brien \\ \"Ünïcode\" Chair", material="Wood",
                    quantity=2, unit_price=D("10.00"), revenue=D("18.00"), revenue_usd=D("0.22"))
    order = dict(order_id=7, customer_id=3, country="IN", currency="INR",
                 fx_rate_usd=D("0.012000"), total=D("21.24"), items=[item, item])
    later = NOW + timedelta(hours=5, microseconds=1)
    payloads = [
        (OrderPlaced(**order, payment_mode="prepaid"), None),
        (OrderConfirmed(**order, confirmed_at=later.astimezone()), None),
        (OrderCancelled(**order, reason="customer_request", confirmed_at=later), later),
        (OrderCancelled(**order, reason="payment_failed", confirmed_at=None), None),
        (PaymentRecorded(order_id=7, payment_id=8, mode="pay_on_delivery", method="cash",
                         status="paid", amount=D("21.24"), currency="INR"), None),
        (ShipmentUpdated(order_id=7, shipment_id=9, carrier="UPS", status="Shipped"), later),
        (CustomerCreated(customer_id=3, country="IN", city="Pune"), None),
    ]
    settings = Settings(kafka_topic_prefix="t1")
    built = outbox.EventRows(settings, NOW)
    for payload, at in payloads:
        built.add(payload, at)
    rows = built.rows()
    assert len(built) == len(rows) == len(payloads)
    for row, (payload, at) in zip(rows, payloads, strict=True):
        event_id = uuid.UUID(row[0])
        assert (event_id.version, event_id.variant) == (4, uuid.RFC_4122)
        envelope = make_event(payload, at or NOW, event_id=event_id)
        assert row == outbox.outbox_rows(settings, [envelope], NOW)[0]
        assert row[4] == encode(envelope)
    assert len({row[0] for row in rows}) == len(rows)


def test_uuid4_strings_look_like_uuid4() -> None:
    ids = outbox.uuid4_strings(2000)
    assert len(set(ids)) == 2000
    for s in ids:
        u = uuid.UUID(s)
        assert str(u) == s
        assert (u.version, u.variant) == (4, uuid.RFC_4122)
    assert {s[19] for s in ids} == set("89ab")
    assert outbox.uuid4_strings(0) == []
