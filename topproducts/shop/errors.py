"""What the shop refuses: order requests that cannot be placed as asked."""

from __future__ import annotations

from topproducts.errors import TopProductsError


class OrderError(TopProductsError):
    """An order request that cannot be placed as asked."""


class OutOfStock(OrderError):
    def __init__(self, variant_id: int, requested: int, available: int) -> None:
        super().__init__(
            f"variant {variant_id} is out of stock: {requested} requested, {available} left")
        self.variant_id = variant_id
        self.requested = requested
        self.available = available


class UnknownCustomer(OrderError):
    def __init__(self, customer_id: int) -> None:
        super().__init__(f"unknown customer {customer_id}")
        self.customer_id = customer_id


class UnknownVariant(OrderError):
    def __init__(self, variant_id: int) -> None:
        super().__init__(f"unknown product variant {variant_id}")
        self.variant_id = variant_id
