"""Money is Decimal, never float. One rounding rule for the whole project.

Rule: amounts are rounded to the currency's minor unit (2 places for all five
shop currencies) with ROUND_HALF_UP, at each step a receipt would show: line
subtotal, discount, tax, and conversion to the reporting currency.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")  # FX, tax and discount rates carry 6 places


def to_decimal(value: object) -> Decimal:
    """Parse a decimal from str/int/Decimal; floats are refused (they are not exact)."""
    if isinstance(value, float):
        raise TypeError(f"refusing float {value!r}: pass money as str or Decimal")
    if isinstance(value, bool):
        raise TypeError("refusing bool as money")
    try:
        result = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return result


def cents(amount: Decimal) -> int:
    """An amount with at most 2 places as whole cents (the stream counts in cents: exact
    integers, cheaper than Decimal arithmetic)."""
    return int(amount.scaleb(2))


def from_cents(value: int) -> Decimal:
    """Whole cents as an amount with 2 places (``1234`` -> ``Decimal("12.34")``)."""
    return Decimal(value) * CENT  # exact: an integer times 0.01 (and cheaper than scaleb)


def round_money(amount: Decimal) -> Decimal:
    """Round to cents, half up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def round_rate(rate: Decimal) -> Decimal:
    return rate.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def money_str(amount: Decimal) -> str:
    """The wire form of an amount: a plain decimal string with two places."""
    return format(round_money(amount), "f")
