"""The event schema: written once, used by the producer, the stream and the tests.

Every Kafka message value is a JSON envelope::

    {"event_id": "<uuid>", "event_type": "order_confirmed", "schema_version": 1,
     "occurred_at": "2026-11-25T08:00:00.123456Z", "payload": {...}}

Amounts are decimal strings next to their currency code. Keys are the order id
(or the customer id for customer events) so one order's events stay in order on
one partition.

Counting-relevant facts are explicit events on the ``orders`` topic:
``order_confirmed`` (the line items now count) and ``order_cancelled`` (if
``confirmed_at`` is set, the items are retracted from the window that counted
them). The stream therefore needs no join across topics.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

from topproducts.countries import BY_CODE, CURRENCIES
from topproducts.errors import TopProductsError

SCHEMA_VERSION: Final = 1

Amount = Annotated[Decimal, Field(max_digits=18, decimal_places=2)]
Rate = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)]


class InvalidEvent(TopProductsError):
    """A message that does not satisfy the schema; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EventType(StrEnum):
    CUSTOMER_CREATED = "customer_created"
    ORDER_PLACED = "order_placed"
    ORDER_CONFIRMED = "order_confirmed"
    ORDER_CANCELLED = "order_cancelled"
    PAYMENT_RECORDED = "payment_recorded"
    SHIPMENT_UPDATED = "shipment_updated"


class Topic(StrEnum):
    """Short topic names; the full name is ``Settings.topic(short)``."""

    CUSTOMERS = "customers"
    ORDERS = "orders"
    PAYMENTS = "payments"
    SHIPMENTS = "shipments"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Priced(_Model):
    """Payload parts that carry money in a shop currency."""

    currency: str

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str) -> str:
        if v not in CURRENCIES:
            raise ValueError(f"unknown currency {v!r}")
        return v


class LineItem(_Model):
    """One order line, as the leaderboards need it.

    ``revenue`` is the line's net amount (after discount, before tax) in the
    order currency; ``revenue_usd`` is the same converted at the order's FX rate.
    """

    line_no: int = Field(ge=1)
    variant_id: int = Field(ge=1)
    product_id: int = Field(ge=1)
    product_name: str = Field(min_length=1)
    material: str = Field(min_length=1)
    quantity: int = Field(ge=1)
    unit_price: Amount = Field(ge=0)
    revenue: Amount = Field(ge=0)
    revenue_usd: Amount = Field(ge=0)
    # The variant's seller, shown on the variant leaderboards (two sellers may offer the
    # same product x material). Optional: events written before it existed stay valid.
    seller: str | None = Field(default=None, min_length=1)


class OrderPayload(_Priced):
    order_id: int = Field(ge=1)
    customer_id: int = Field(ge=1)
    country: str
    fx_rate_usd: Rate  # USD per one unit of ``currency``
    total: Amount = Field(ge=0)  # what the customer pays, tax included
    items: list[LineItem] = Field(min_length=1)

    @field_validator("country")
    @classmethod
    def _known_country(cls, v: str) -> str:
        if v not in BY_CODE:
            raise ValueError(f"unknown country {v!r}")
        return v


class OrderPlaced(OrderPayload):
    payment_mode: Literal["prepaid", "pay_on_delivery"]


class OrderConfirmed(OrderPayload):
    confirmed_at: AwareDatetime


class OrderCancelled(OrderPayload):
    reason: str
    # Set when the order had been confirmed: its items are retracted from the
    # leaderboards, in the window of the confirmation. None: nothing to retract.
    confirmed_at: AwareDatetime | None = None


class PaymentRecorded(_Priced):
    order_id: int = Field(ge=1)
    payment_id: int = Field(ge=1)
    mode: Literal["prepaid", "pay_on_delivery"]
    method: str
    status: Literal["pending", "paid", "failed"]
    amount: Amount = Field(ge=0)


class ShipmentUpdated(_Model):
    order_id: int = Field(ge=1)
    shipment_id: int = Field(ge=1)
    carrier: str
    status: str


class CustomerCreated(_Model):
    customer_id: int = Field(ge=1)
    country: str
    city: str


PAYLOADS: dict[EventType, type[_Model]] = {
    EventType.CUSTOMER_CREATED: CustomerCreated,
    EventType.ORDER_PLACED: OrderPlaced,
    EventType.ORDER_CONFIRMED: OrderConfirmed,
    EventType.ORDER_CANCELLED: OrderCancelled,
    EventType.PAYMENT_RECORDED: PaymentRecorded,
    EventType.SHIPMENT_UPDATED: ShipmentUpdated,
}
TOPIC_OF: dict[EventType, Topic] = {
    EventType.CUSTOMER_CREATED: Topic.CUSTOMERS,
    EventType.ORDER_PLACED: Topic.ORDERS,
    EventType.ORDER_CONFIRMED: Topic.ORDERS,
    EventType.ORDER_CANCELLED: Topic.ORDERS,
    EventType.PAYMENT_RECORDED: Topic.PAYMENTS,
    EventType.SHIPMENT_UPDATED: Topic.SHIPMENTS,
}


class Envelope(_Model):
    event_id: uuid.UUID
    event_type: EventType
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: AwareDatetime
    payload: dict[str, Any]

    @field_serializer("occurred_at")
    def _utc_iso(self, v: datetime) -> str:
        return utc_iso(v)

    @property
    def topic(self) -> Topic:
        return TOPIC_OF[self.event_type]

    @property
    def key(self) -> str:
        """Partition key: the order id, or the customer id for customer events."""
        if "order_id" in self.payload:
            return str(self.payload["order_id"])
        return str(self.payload["customer_id"])

    def typed_payload(self) -> _Model:
        return PAYLOADS[self.event_type].model_validate(self.payload)


def utc_iso(v: datetime) -> str:
    """UTC ISO-8601 with a ``Z`` and microseconds, the one timestamp format on the wire."""
    return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_event(
    payload: _Model, occurred_at: datetime | None = None, event_id: uuid.UUID | None = None
) -> Envelope:
    """Wrap a payload in an envelope. The event type follows from the payload class."""
    event_type = next(t for t, cls in PAYLOADS.items() if cls is type(payload))
    return Envelope(
        event_id=event_id or uuid.uuid4(),
        event_type=event_type,
        occurred_at=occurred_at or datetime.now(UTC),
        payload=payload.model_dump(mode="json"),
    )


def encode(event: Envelope) -> bytes:
    return event.model_dump_json().encode()


def decode(raw: bytes | str | None) -> Envelope:
    """Parse and validate one message value; raise :class:`InvalidEvent` with the reason."""
    if raw is None:
        raise InvalidEvent("empty message value")
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(_reason(exc)) from None
    try:
        envelope.typed_payload()
    except ValidationError as exc:
        raise InvalidEvent(_reason(exc, "payload")) from None
    return envelope


def _reason(exc: ValidationError, prefix: str = "") -> str:
    first = exc.errors()[0]
    where = ".".join([prefix, *(str(p) for p in first["loc"])] if prefix else
                     [str(p) for p in first["loc"]]) or "value"
    return f"{where}: {first['msg']}"
