import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from topproducts.events import (
    EventType,
    InvalidEvent,
    LineItem,
    OrderCancelled,
    OrderConfirmed,
    Topic,
    decode,
    encode,
    make_event,
)

WHEN = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def confirmed(**changes: object) -> OrderConfirmed:
    fields = dict(
        order_id=42, customer_id=7, country="GB", currency="GBP", fx_rate_usd=Decimal("1.27"),
        total=Decimal("24.00"), confirmed_at=WHEN,
        items=[LineItem(line_no=1, variant_id=3, product_id=2, product_name="Chair",
                        material="Oak", quantity=2, unit_price=Decimal("10.00"),
                        revenue=Decimal("20.00"), revenue_usd=Decimal("25.40"))],
    )
    fields.update(changes)
    return OrderConfirmed(**fields)


def test_round_trip_keeps_decimals_and_utc() -> None:
    event = make_event(confirmed(), occurred_at=WHEN)
    raw = encode(event)
    doc = json.loads(raw)
    assert doc["occurred_at"] == "2026-11-25T08:00:00.000000Z"
    assert doc["payload"]["items"][0]["revenue_usd"] == "25.40"
    back = decode(raw)
    assert back == event
    assert back.event_type is EventType.ORDER_CONFIRMED
    assert back.topic is Topic.ORDERS and back.key == "42"
    assert back.typed_payload().items[0].revenue_usd == Decimal("25.40")


def test_cancellation_without_confirmation_retracts_nothing() -> None:
    payload = OrderCancelled(**confirmed().model_dump(exclude={"confirmed_at"}), reason="failed")
    assert payload.confirmed_at is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d["payload"]["items"][0].update(quantity=-1), "payload.items.0.quantity"),
        (lambda d: d["payload"].update(currency="EUR"), "payload.currency"),
        (lambda d: d["payload"].update(country="FR"), "payload.country"),
        (lambda d: d.update(event_type="order_exploded"), "event_type"),
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d["payload"]["items"][0].update(revenue_usd="12.x"), "revenue_usd"),
        (lambda d: d["payload"].update(items=[]), "payload.items"),
    ],
)
def test_invalid_events_say_why(mutate, reason: str) -> None:
    doc = json.loads(encode(make_event(confirmed(), occurred_at=WHEN)))
    mutate(doc)
    with pytest.raises(InvalidEvent) as err:
        decode(json.dumps(doc))
    assert reason in err.value.reason


def test_not_json() -> None:
    with pytest.raises(InvalidEvent, match="Invalid JSON"):
        decode(b"{nope")
    with pytest.raises(InvalidEvent, match="empty"):
        decode(None)
