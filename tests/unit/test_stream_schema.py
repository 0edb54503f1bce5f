"""The Spark schema and rules are derived from the pydantic models, and agree with them."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from streaming.schema import KNOWN_VALUES, spark_type, topic_schema
from topproducts.events import LineItem, OrderCancelled, OrderConfirmed, OrderPlaced


def test_payload_struct_has_every_field_of_every_order_event() -> None:
    ts = topic_schema()
    assert set(ts.event_types) == {"order_placed", "order_confirmed", "order_cancelled"}
    struct = spark_type(ts.envelope)
    payload = struct["payload"].dataType
    expected = set().union(*(m.model_fields for m in (OrderPlaced, OrderConfirmed,
                                                      OrderCancelled)))
    assert set(payload.fieldNames()) == expected
    items = payload["items"].dataType.elementType
    assert set(items.fieldNames()) == set(LineItem.model_fields)
    # every scalar leaf is a string: values are cast later, with a reason on failure
    assert {f.dataType.simpleString() for f in items.fields} == {"string"}


def test_constraints_come_from_the_models() -> None:
    confirmed = dict((n.name, n) for n in topic_schema().payloads["order_confirmed"])
    cancelled = dict((n.name, n) for n in topic_schema().payloads["order_cancelled"])
    assert confirmed["confirmed_at"].required and not cancelled["confirmed_at"].required
    quantity = next(c for c in confirmed["items"].children if c.name == "quantity")
    assert quantity.kind == "int" and quantity.ge == 1
    revenue = next(c for c in confirmed["items"].children if c.name == "revenue_usd")
    assert (revenue.kind, revenue.max_digits, revenue.decimal_places) == ("decimal", 18, 2)
    assert confirmed["items"].min_length == 1


@pytest.mark.parametrize("field", sorted(KNOWN_VALUES))
def test_known_values_match_the_model_validators(field: str) -> None:
    item = LineItem(line_no=1, variant_id=1, product_id=1, product_name="a", material="b",
                    quantity=1, unit_price="1.00", revenue="1.00", revenue_usd="1.00")
    base = dict(order_id=1, customer_id=1, country="IN", currency="INR", fx_rate_usd="0.012",
                total="1.00", items=[item], confirmed_at=datetime.now(UTC))
    for ok in KNOWN_VALUES[field]:
        OrderConfirmed(**{**base, field: ok})
    with pytest.raises(pydantic.ValidationError):
        OrderConfirmed(**{**base, field: "XX"})
