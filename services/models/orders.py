"""Orders: placing one, reading it, its status history, cancelling it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from services.models.common import MAX_ID, In, Integer, Money, Out, Rate, UtcTime
from topproducts.shop.lifecycle import MAX_LINES, MAX_QUANTITY


class LineIn(In):
    variant_id: Integer = Field(ge=1, le=MAX_ID, examples=[10])
    quantity: Integer = Field(ge=1, le=MAX_QUANTITY, examples=[2])


class OrderIn(In):
    customer_id: Integer = Field(ge=1, le=MAX_ID, examples=[1])
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES,
                                description="Each variant on one line only.")
    payment_mode: Literal["prepaid", "pay_on_delivery"] = "prepaid"
    payment_method: str = Field("card", pattern=r"^[a-z][a-z_]{1,39}$",
                                examples=["card", "upi", "cash"])
    payment_outcome: Literal["accepted", "declined"] = Field(
        "accepted",
        description="What the simulated gateway answers: a declined prepaid payment (or "
                    "refused pay-on-delivery) cancels the order at once.")

    @field_validator("lines")
    @classmethod
    def _distinct(cls, lines: list[LineIn]) -> list[LineIn]:
        seen: set[int] = set()
        for line in lines:
            if line.variant_id in seen:
                raise ValueError(f"variant {line.variant_id} appears on more than one line")
            seen.add(line.variant_id)
        return lines


class Line(Out):
    line_no: int
    variant_id: int
    product_id: int
    product_name: str
    material: str
    quantity: int
    unit_price: Money
    subtotal: Money
    discount: Money
    tax: Money
    line_total: Money
    revenue: Money = Field(description="Net of discount, before tax, order currency.")
    revenue_usd: Money


class PaymentRef(Out):
    payment_id: int
    mode: str
    method: str
    status: str


class ShipmentRef(Out):
    shipment_id: int
    carrier: str
    tracking_number: str
    status: str


class OrderSummary(Out):
    order_id: int
    customer_id: int
    country: str
    currency: str
    status: str
    total: Money
    revenue_usd: Money
    placed_at: UtcTime


class Order(OrderSummary):
    payment_mode: str
    fx_rate_usd: Rate = Field(description="USD per one unit of the order currency.")
    subtotal: Money
    discount: Money
    tax: Money
    revenue: Money
    confirmed_at: UtcTime | None
    cancelled_at: UtcTime | None
    cancel_reason: str | None
    lines: list[Line]
    payment: PaymentRef | None
    shipment: ShipmentRef | None


class StatusChange(Out):
    status: str
    changed_at: UtcTime


class OrderHistory(Out):
    order_id: int
    history: list[StatusChange]


class Events(Out):
    written: int = Field(description="Events written to the outbox with the rows.")
    published: bool = Field(description="True when Kafka acknowledged them before this "
                                        "response; else the relay publishes them shortly.")


class OrderReceipt(Out):
    order: Order
    events: Events
