"""Pricing and rounding of an order line (pure)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from topproducts.shop import pricing
from topproducts.shop.reference import FX_RATES_USD


def test_usd_line_worked_example() -> None:
    p = pricing.price_line(D("19.99"), 3, D("1"), D("0.10"), D("0.08"))
    assert p.unit_price == D("19.99")
    assert p.subtotal == D("59.97")
    assert p.discount == D("6.00")  # 5.997 -> 6.00 (half up)
    assert p.revenue == D("53.97")
    assert p.tax == D("4.32")  # 4.3176 -> 4.32
    assert p.line_total == D("58.29")
    assert p.revenue_usd == D("53.97")


def test_inr_line_converts_then_rounds_each_step() -> None:
    fx = FX_RATES_USD["INR"]  # 0.012 USD per INR
    p = pricing.price_line(D("10.00"), 2, fx, D("0.05"), D("0.18"))
    assert p.unit_price == D("833.33")  # 10 / 0.012 = 833.333...
    assert p.subtotal == D("1666.66")
    assert p.discount == D("83.33")  # 83.333
    assert p.revenue == D("1583.33")
    assert p.tax == D("285.00")  # 284.9994 -> 285.00
    assert p.line_total == D("1868.33")
    assert p.revenue_usd == D("19.00")  # 18.99996 -> 19.00


def test_half_up_not_bankers() -> None:
    # 0.125 * ... : discount of 2.50 at 5% = 0.125 -> 0.13 (banker's would give 0.12)
    p = pricing.price_line(D("2.50"), 1, D("1"), D("0.05"), D("0"))
    assert p.discount == D("0.13")
    assert p.revenue == D("2.37")


def test_identities_hold_for_many_lines() -> None:
    for cents in range(1, 5000, 37):
        for fx in FX_RATES_USD.values():
            for q in (1, 2, 5):
                p = pricing.price_line(D(cents) / 100, q, fx, D("0.15"), D("0.12"))
                assert p.subtotal == p.unit_price * q
                assert p.revenue == p.subtotal - p.discount
                assert p.line_total == p.revenue + p.tax
                for amount in (p.unit_price, p.discount, p.tax, p.revenue_usd):
                    assert amount == amount.quantize(D("0.01"))
                assert p.revenue >= 0 and p.tax >= 0


def test_order_totals_are_sums() -> None:
    lines = [pricing.price_line(D("3.33"), q, D("1.27"), D("0.10"), D("0.05")) for q in (1, 2, 3)]
    totals = pricing.order_totals(lines)
    assert totals.total == sum(x.line_total for x in lines)
    assert totals.revenue_usd == sum(x.revenue_usd for x in lines)
    assert totals.revenue == totals.subtotal - totals.discount
    assert pricing.order_totals([]).total == D("0.00")


@pytest.mark.parametrize(
    ("price", "qty", "fx", "discount", "tax"),
    [
        (D("1"), 0, D("1"), D("0"), D("0")),
        (D("1"), True, D("1"), D("0"), D("0")),
        (D("1"), 1, D("0"), D("0"), D("0")),
        (D("1"), 1, D("1"), D("1.5"), D("0")),
        (D("1"), 1, D("1"), D("0"), D("-0.1")),
    ],
)
def test_bad_inputs_are_refused(price, qty, fx, discount, tax) -> None:
    with pytest.raises(ValueError):
        pricing.price_line(price, qty, fx, discount, tax)


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        pricing.price_line(19.99, 1, D("1"), D("0"), D("0"))  # type: ignore[arg-type]
