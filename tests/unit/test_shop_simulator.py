"""The simulator's random choices (pure: no database)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from topproducts.shop.errors import OrderError, OutOfStock
from topproducts.shop.lifecycle import PAYMENT_MODES
from topproducts.shop.model import LineRequest, OrderRequest
from topproducts.shop.simulator import Customer, EmptyCatalogue, ShopperProfile, Shoppers

CUSTOMERS = [Customer(i, c) for i, c in enumerate(["IN", "US", "GB", "CA", "AU"] * 20, start=1)]
VARIANTS = [p * 10 + j for p in range(1, 101) for j in range(3)]


def _orders(seed: int, n: int = 300, stock: int = 1_000_000):
    shoppers = Shoppers(random.Random(seed), CUSTOMERS, VARIANTS)
    shelf = dict.fromkeys(VARIANTS, stock)
    return [shoppers.order(shelf) for _ in range(n)], shelf


def test_same_seed_same_orders() -> None:
    a, _ = _orders(7)
    b, _ = _orders(7)
    c, _ = _orders(8)
    assert a == b
    assert a != c


def test_orders_respect_the_shape_of_an_order() -> None:
    requests, _ = _orders(1, n=2000)
    by_id = {c.customer_id: c for c in CUSTOMERS}
    for r in requests:
        assert r is not None
        assert 1 <= len(r.lines) <= 10
        assert len({x.variant_id for x in r.lines}) == len(r.lines)
        assert all(1 <= x.quantity <= 5 for x in r.lines)
        assert r.payment_mode in PAYMENT_MODES
        if r.payment_mode == "pay_on_delivery":
            assert r.payment_method in ("cash", "card_on_delivery")
        else:
            assert r.payment_method != "cash"
        if r.payment_method == "upi":
            assert by_id[r.customer_id].country == "IN"
    line_counts = Counter(len(r.lines) for r in requests)
    assert set(line_counts) == set(range(1, 11))
    assert line_counts[1] > line_counts[10]


def test_shares_are_roughly_the_profile() -> None:
    requests, _ = _orders(3, n=5000)
    prepaid = [r for r in requests if r.payment_mode == "prepaid"]
    assert 0.55 < len(prepaid) / len(requests) < 0.65
    assert 0.86 < sum(r.payment_ok for r in prepaid) / len(prepaid) < 0.94


def test_popularity_is_skewed_so_there_is_a_leaderboard() -> None:
    requests, _ = _orders(5, n=3000)
    counts = Counter(x.variant_id for r in requests for x in r.lines)
    top, *_ = counts.most_common(1)
    assert top[1] > 5 * (sum(counts.values()) / len(VARIANTS))


def test_stock_snapshot_is_respected_and_decremented() -> None:
    shoppers = Shoppers(random.Random(2), CUSTOMERS, VARIANTS)
    shelf = dict.fromkeys(VARIANTS, 3)
    taken: Counter[int] = Counter()
    for _ in range(500):
        r = shoppers.order(shelf)
        if r is None:
            continue
        for x in r.lines:
            assert x.quantity <= 3
            if r.payment_ok:
                taken[x.variant_id] += x.quantity
    assert all(v >= 0 for v in shelf.values())
    assert all(shelf[v] == 3 - taken[v] for v in VARIANTS)


def test_empty_shelves_give_no_order() -> None:
    shoppers = Shoppers(random.Random(2), CUSTOMERS, VARIANTS)
    assert shoppers.order(dict.fromkeys(VARIANTS, 0)) is None


def test_cancellations_are_a_share_of_placed() -> None:
    shoppers = Shoppers(random.Random(4), CUSTOMERS, VARIANTS, ShopperProfile(cancel_share=0.1))
    picked = shoppers.cancellations(list(range(1, 1001)), placed=500)
    assert len(picked) == 50
    assert picked == sorted(set(picked))
    assert shoppers.cancellations([], placed=500) == []
    assert len(shoppers.cancellations([1, 2], placed=500)) == 2


def test_cancel_delays_spread_from_seconds_to_days_within_the_shops_age() -> None:
    import math

    profile = ShopperProfile(cancel_share=0.5, cancel_delay_min=1.0, cancel_delay_max=3 * 86400.0)
    shoppers = Shoppers(random.Random(6), CUSTOMERS, VARIANTS, profile)
    delays = shoppers.cancel_delays(placed=4000, age=10 * 86400.0)
    assert len(delays) == 2000 and all(1.0 <= d <= 3 * 86400.0 for d in delays)
    # log-uniform: about as many under a minute as between an hour and a day
    assert sum(d < 60 for d in delays) > 300 and sum(3600 <= d < 86400 for d in delays) > 300
    assert math.log(max(delays) / min(delays)) > 10  # seconds to days
    young = shoppers.cancel_delays(placed=4000, age=120.0)  # a shop two minutes old
    assert young and max(young) <= 120.0
    assert shoppers.cancel_delays(placed=4000, age=0.5) == []  # nothing old enough yet


def test_nothing_to_sell_or_nobody_to_sell_to() -> None:
    with pytest.raises(EmptyCatalogue, match="seed"):
        Shoppers(random.Random(1), [], VARIANTS)
    with pytest.raises(EmptyCatalogue, match="seed"):
        Shoppers(random.Random(1), CUSTOMERS, [])


def test_order_request_validation() -> None:
    line = LineRequest(10, 1)
    with pytest.raises(OrderError, match="1 to 10 lines"):
        OrderRequest(1, ())
    with pytest.raises(OrderError, match="one line only"):
        OrderRequest(1, (line, line))
    with pytest.raises(OrderError, match="quantity"):
        OrderRequest(1, (LineRequest(10, 6),))
    with pytest.raises(OrderError, match="payment mode"):
        OrderRequest(1, (line,), payment_mode="cheque")  # type: ignore[arg-type]
    err = OutOfStock(10, 5, 2)
    assert "variant 10" in str(err) and err.available == 2
