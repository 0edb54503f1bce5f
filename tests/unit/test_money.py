from decimal import Decimal

import pytest

from topproducts.money import money_str, round_money, to_decimal


def test_round_half_up_to_cents() -> None:
    assert round_money(Decimal("0.005")) == Decimal("0.01")
    assert round_money(Decimal("2.675")) == Decimal("2.68")  # a float would give 2.67
    assert round_money(Decimal("-0.005")) == Decimal("-0.01")


def test_wire_form_has_two_places() -> None:
    assert money_str(Decimal("3")) == "3.00"
    assert money_str(Decimal("1E+3")) == "1000.00"


@pytest.mark.parametrize("bad", [1.5, True, "abc", "NaN", "Infinity"])
def test_refuses_inexact_or_invalid(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        to_decimal(bad)


def test_parses_exact_inputs() -> None:
    assert to_decimal("12.30") == Decimal("12.30")
    assert to_decimal(7) == Decimal(7)
