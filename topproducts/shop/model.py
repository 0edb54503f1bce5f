"""What callers ask the shop for (order requests) and what its writes report back."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from topproducts.shop.errors import OrderError
from topproducts.shop.lifecycle import MAX_LINES, MAX_QUANTITY, PAYMENT_MODES, PaymentMode


@dataclass(frozen=True)
class LineRequest:
    variant_id: int
    quantity: int


@dataclass(frozen=True)
class OrderRequest:
    """What a shopper asks for. ``payment_ok``: the gateway charged a prepaid order, or a
    pay-on-delivery order was accepted."""

    customer_id: int
    lines: tuple[LineRequest, ...]
    payment_mode: PaymentMode = "prepaid"
    payment_method: str = "card"
    payment_ok: bool = True

    def __post_init__(self) -> None:
        if not 1 <= len(self.lines) <= MAX_LINES:
            raise OrderError(f"an order has 1 to {MAX_LINES} lines, got {len(self.lines)}")
        ids = [x.variant_id for x in self.lines]
        if len(set(ids)) != len(ids):
            raise OrderError("each variant may appear on one line only")
        for line in self.lines:
            if not 1 <= line.quantity <= MAX_QUANTITY:
                raise OrderError(f"quantity must be 1 to {MAX_QUANTITY}, got {line.quantity}")
        if self.payment_mode not in PAYMENT_MODES:
            raise OrderError(f"payment mode must be one of {PAYMENT_MODES}")


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    customer_id: int
    country: str
    currency: str
    status: str  # confirmed or cancelled
    total: Decimal
    total_usd: Decimal
    lines: int
    events: int


@dataclass
class WriteResult:
    """What a call wrote: placed orders, rejected requests, row and event counts."""

    placed: list[PlacedOrder] = field(default_factory=list)
    rejected: list[tuple[OrderRequest, OrderError]] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    advanced: int = 0
    delivered: int = 0
    rows: int = 0
    events: int = 0

    def add(self, other: WriteResult) -> None:
        self.placed += other.placed
        self.rejected += other.rejected
        self.cancelled += other.cancelled
        self.advanced += other.advanced
        self.delivered += other.delivered
        self.rows += other.rows
        self.events += other.events
