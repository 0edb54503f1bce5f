"""Orders on past days, through the shop's own domain code (tests, benchmarks, demos).

The simulator places orders *now*; the daily leaderboards need a shop with a past. This
places a day's orders with the same shoppers (:class:`~topproducts.shop.simulator.Shoppers`)
and the same domain writes (:func:`~topproducts.shop.placing.place_orders`,
:func:`~topproducts.shop.cancelling.cancel_orders`), passing the moment they happen as
``now``: rows, ``confirmed_at`` and events carry that moment. The outbox is drained to
Kafka afterwards, as the simulator does (for a running stream these events come after their
windows are final: they count all-time, and are recorded as late facts).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from topproducts import db
from topproducts.settings import Settings
from topproducts.shop.cancelling import cancel_orders
from topproducts.shop.lifecycle import CONFIRMED, CUSTOMER_REQUEST
from topproducts.shop.model import WriteResult
from topproducts.shop.outbox import publish_pending
from topproducts.shop.placing import place_orders
from topproducts.shop.schema import Tables
from topproducts.shop.simulator import Customer, ShopperProfile, Shoppers
from topproducts.shop.sql import naive_utc
from topproducts.shop.stock import add_stock

RESTOCK_BELOW = 50
RESTOCK_AMOUNT = 2000


@dataclass(frozen=True)
class DayReport:
    day: date
    placed: int
    confirmed: int
    cancelled_later: list[int]  # confirmed orders cancelled later the same day


def moments(day: date, batches: int) -> list[datetime]:
    """``batches`` moments spread evenly over the UTC day (the middle of each slice)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    step = timedelta(days=1) / batches
    return [start + step * k + step / 2 for k in range(batches)]


def place_on_day(settings: Settings, day: date, orders: int, seed: int = 0,
                 batch_size: int = 50, profile: ShopperProfile | None = None,
                 publish: bool = True) -> DayReport:
    """Place about ``orders`` orders spread over ``day`` (UTC), in batches of ``batch_size``
    (one transaction each, one moment each); about ``profile.cancel_share`` of them are
    cancelled half a batch later, the same day. Deterministic for a seed and shop state."""
    t = Tables.of(settings)
    batches = max(1, -(-orders // batch_size))
    when = moments(day, batches)
    half_slice = timedelta(days=1) / batches / 4
    placed = confirmed = 0
    cancelled: list[int] = []
    with db.transaction(settings) as conn, conn.cursor() as cur:
        shoppers = Shoppers(random.Random(seed), _customers(cur, t), list(_stock(cur, t)),
                            profile)
    for k, moment in enumerate(when):
        n = min(batch_size, orders - k * batch_size)
        with db.transaction(settings) as conn, conn.cursor() as cur:
            stock = _stock(cur, t)
            low = {v: RESTOCK_AMOUNT for v, left in stock.items() if left < RESTOCK_BELOW}
            add_stock(cur, t, low, naive_utc(moment))
            for v, amount in low.items():
                stock[v] += amount
            requests = [r for r in (shoppers.order(stock) for _ in range(n)) if r]
            result = place_orders(cur, settings, requests, moment, skip_rejected=True)
            ok = [o.order_id for o in result.placed if o.status == CONFIRMED]
            placed, confirmed = placed + len(result.placed), confirmed + len(ok)
            cancel = shoppers.cancellations(ok, len(result.placed))
            done = cancel_orders(cur, settings, cancel, CUSTOMER_REQUEST, moment + half_slice)
            cancelled += done.cancelled
    if publish:
        publish_pending(settings)
    return DayReport(day, placed, confirmed, cancelled)


def cancel_on(settings: Settings, order_ids: Sequence[int], moment: datetime,
              publish: bool = True) -> WriteResult:
    """Cancel confirmed, unshipped orders at ``moment`` (e.g. after a day's cut-off)."""
    with db.transaction(settings) as conn, conn.cursor() as cur:
        result = cancel_orders(cur, settings, order_ids, CUSTOMER_REQUEST, moment)
    if publish:
        publish_pending(settings)
    return result


def confirmed_orders(settings: Settings, day: date) -> list[int]:
    """Ids of the orders confirmed on ``day`` and still confirmed (not cancelled)."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    t = Tables.of(settings)
    with db.transaction(settings) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT order_id FROM {t.orders} WHERE confirmed_at >= %s "
                    "AND confirmed_at < %s AND cancelled_at IS NULL ORDER BY order_id",
                    (naive_utc(start), naive_utc(start + timedelta(days=1))))
        return [int(r[0]) for r in cur.fetchall()]


def _customers(cur, t: Tables) -> list[Customer]:
    cur.execute(f"SELECT customer_id, country_code FROM {t.customers} ORDER BY customer_id")
    return [Customer(*row) for row in cur.fetchall()]


def _stock(cur, t: Tables) -> dict[int, int]:
    cur.execute(f"SELECT variant_id, stock FROM {t.variants}")
    return dict(cur.fetchall())
