"""Pricing of an order line: pure functions over Decimal, one rounding rule.

The rule (see :mod:`topproducts.money`): every amount a receipt shows is
rounded to cents, half up, at the moment it is computed, and later amounts
are computed from the rounded ones::

    unit_price  = round_money(price_usd / fx_rate_usd)     # catalogue USD -> order currency
    subtotal    = unit_price * quantity                    # exact (cents x integer)
    discount    = round_money(subtotal * discount_rate)
    revenue     = subtotal - discount                      # net, excl. tax (exact)
    tax         = round_money(revenue * tax_rate)
    line_total  = revenue + tax                            # what the customer pays (exact)
    revenue_usd = round_money(revenue * fx_rate_usd)       # reporting currency

``fx_rate_usd`` is USD per one unit of the order currency (INR 0.012 means
1 INR = 0.012 USD), recorded on the order at placement. Order totals are sums
of the line amounts, so they need no further rounding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from topproducts.money import round_money, to_decimal

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class LinePrice:
    """The amounts of one order line, all in the order currency except ``revenue_usd``."""

    quantity: int
    unit_price: Decimal
    subtotal: Decimal
    discount: Decimal
    revenue: Decimal
    tax: Decimal
    line_total: Decimal
    revenue_usd: Decimal


@dataclass(frozen=True)
class OrderTotals:
    subtotal: Decimal
    discount: Decimal
    revenue: Decimal
    tax: Decimal
    total: Decimal
    revenue_usd: Decimal


def local_unit_price(price_usd: Decimal, fx_rate_usd: Decimal) -> Decimal:
    """The catalogue price (USD) in the order currency, rounded to cents."""
    fx = to_decimal(fx_rate_usd)
    if fx <= 0:
        raise ValueError(f"fx_rate_usd must be positive, got {fx}")
    return round_money(to_decimal(price_usd) / fx)


def price_line(
    price_usd: Decimal,
    quantity: int,
    fx_rate_usd: Decimal,
    discount_rate: Decimal,
    tax_rate: Decimal,
) -> LinePrice:
    """Price one line of ``quantity`` units of a variant for an order in some currency."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be a positive integer, got {quantity!r}")
    discount_rate = to_decimal(discount_rate)
    tax_rate = to_decimal(tax_rate)
    if not Decimal(0) <= discount_rate <= Decimal(1):
        raise ValueError(f"discount_rate must be within [0, 1], got {discount_rate}")
    if tax_rate < 0:
        raise ValueError(f"tax_rate must not be negative, got {tax_rate}")
    fx = to_decimal(fx_rate_usd)
    unit = local_unit_price(price_usd, fx)
    subtotal = unit * quantity
    discount = round_money(subtotal * discount_rate)
    revenue = subtotal - discount
    tax = round_money(revenue * tax_rate)
    return LinePrice(
        quantity=quantity,
        unit_price=unit,
        subtotal=subtotal,
        discount=discount,
        revenue=revenue,
        tax=tax,
        line_total=revenue + tax,
        revenue_usd=round_money(revenue * fx),
    )


def order_totals(lines: Iterable[LinePrice]) -> OrderTotals:
    """Sum the lines of an order (sums of cents stay exact)."""
    lines = list(lines)
    return OrderTotals(
        subtotal=sum((x.subtotal for x in lines), ZERO),
        discount=sum((x.discount for x in lines), ZERO),
        revenue=sum((x.revenue for x in lines), ZERO),
        tax=sum((x.tax for x in lines), ZERO),
        total=sum((x.line_total for x in lines), ZERO),
        revenue_usd=sum((x.revenue_usd for x in lines), ZERO),
    )
