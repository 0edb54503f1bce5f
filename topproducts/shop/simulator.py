"""The order simulator: random shoppers placing orders through :mod:`topproducts.shop.placing`.

The random choices are pure functions of a :class:`random.Random` and the
current catalogue/stock snapshot (:class:`Shoppers`), so a given seed and
database state give the same orders. :func:`produce` wires them to MySQL (one
transaction per batch, with the outbox) and Kafka (the relay drains the outbox
after each batch and flushes before it reports success).

Each batch, in one transaction:

1. cancel a few confirmed (or delivered) orders, each confirmed a random while ago: from
   seconds to days, log-uniformly (``TOPPRODUCTS_CANCEL_DELAY_MIN`` / ``_MAX``, at most the
   shop's age), as customers cancel and return,
2. move open shipments one step (Processing ... Delivered), oldest first,
3. top up variants that ran low (the warehouse restocks),
4. place new orders.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from topproducts import db, kafka_io
from topproducts.countries import country as lookup_country
from topproducts.errors import ConfigError, TopProductsError
from topproducts.leaderboards.ranking import parse_duration
from topproducts.settings import Settings, get_settings
from topproducts.shop import outbox, sql
from topproducts.shop.cancelling import cancel_orders
from topproducts.shop.lifecycle import CANCELLED, CONFIRMED, CUSTOMER_REQUEST, DELIVERED
from topproducts.shop.model import LineRequest, OrderRequest, WriteResult
from topproducts.shop.outbox import Relay, RelayReport
from topproducts.shop.placing import place_orders
from topproducts.shop.reference import POD_METHODS, PREPAID_METHODS
from topproducts.shop.retry import retrying
from topproducts.shop.schema import Tables, ensure_schema
from topproducts.shop.shipments import advance_shipments
from topproducts.shop.sql import naive_utc
from topproducts.shop.stock import add_stock

MAX_ORDERS = 10_000_000

Progress = Callable[[str, int, int], None]


class EmptyCatalogue(TopProductsError):
    """No customers or no variants to order: seed first."""


@dataclass(frozen=True)
class ShopperProfile:
    """How shoppers behave. Shares are probabilities in [0, 1]."""

    prepaid_share: float = 0.6
    prepaid_success: float = 0.9  # the rest fail and cancel at once
    pod_acceptance: float = 0.97
    cancel_share: float = 0.03  # of placed orders, a confirmed one is cancelled later
    cancel_delay_min: float = 1.0  # seconds after its confirmation (log-uniform)...
    cancel_delay_max: float = 3 * 86_400.0  # ...up to this (days)
    line_weights: tuple[int, ...] = (30, 20, 14, 10, 8, 6, 5, 3, 2, 2)  # 1..10 lines
    quantity_weights: tuple[int, ...] = (50, 25, 12, 8, 5)  # 1..5 units
    popularity_skew: float = 1.0  # Zipf exponent over a seeded ranking of the variants
    shipment_steps_per_order: float = 4.0  # shipments advanced per order placed
    restock_below: int = 50
    restock_amount: int = 2000

    @classmethod
    def configured(cls, settings: Settings) -> ShopperProfile:
        """The defaults, with the configured cancellation delays."""
        low = parse_duration(settings.cancel_delay_min).total_seconds()
        high = parse_duration(settings.cancel_delay_max).total_seconds()
        if not 0 < low <= high:
            raise ConfigError(f"cancel delays must satisfy 0 < min <= max, got "
                              f"{settings.cancel_delay_min!r} .. {settings.cancel_delay_max!r}")
        return cls(cancel_delay_min=low, cancel_delay_max=high)


@dataclass(frozen=True)
class Customer:
    customer_id: int
    country: str


class Shoppers:
    """Random choices of orders over a snapshot of customers and variant stock (pure)."""

    def __init__(
        self,
        rng: random.Random,
        customers: Sequence[Customer],
        variant_ids: Sequence[int],
        profile: ShopperProfile | None = None,
    ) -> None:
        if not customers:
            raise EmptyCatalogue("no customers to place orders: run `topproducts seed` first")
        if not variant_ids:
            raise EmptyCatalogue("no product variants to order: run `topproducts seed` first")
        self.rng = rng
        self.profile = profile or ShopperProfile()
        self.customers = list(customers)
        ranked = sorted(variant_ids)
        rng.shuffle(ranked)  # which variants are popular depends on the seed
        self.variants = ranked
        weights = [1.0 / (rank + 1) ** self.profile.popularity_skew for rank in range(len(ranked))]
        self._cum = list(itertools.accumulate(weights))
        self._line_counts = range(1, len(self.profile.line_weights) + 1)
        self._quantities = range(1, len(self.profile.quantity_weights) + 1)

    def pick_variants(self, n: int, stock: dict[int, int], quantities: Sequence[int]
                      ) -> list[tuple[int, int]]:
        """Up to ``n`` distinct (variant, quantity) pairs with enough stock in the snapshot."""
        chosen: dict[int, int] = {}
        qty = iter(quantities)
        q = next(qty)
        for _ in range(n * 4):  # a few extra draws in case of repeats or empty shelves
            (variant_id,) = self.rng.choices(self.variants, cum_weights=self._cum)
            if variant_id in chosen or stock.get(variant_id, 0) < q:
                continue
            chosen[variant_id] = q
            if len(chosen) == n:
                break
            q = next(qty)
        return list(chosen.items())

    def order(self, stock: dict[int, int]) -> OrderRequest | None:
        """One order request; decrements ``stock`` (the snapshot) for what it takes.

        None when the shelves this shopper looked at were empty.
        """
        p = self.profile
        rng = self.rng
        customer = rng.choice(self.customers)
        n = rng.choices(self._line_counts, p.line_weights)[0]
        quantities = rng.choices(self._quantities, p.quantity_weights, k=n)
        picks = self.pick_variants(n, stock, quantities)
        if not picks:
            return None
        prepaid = rng.random() < p.prepaid_share
        if prepaid:
            method = rng.choice(PREPAID_METHODS[customer.country])
            ok = rng.random() < p.prepaid_success
        else:
            method = rng.choice(POD_METHODS)
            ok = rng.random() < p.pod_acceptance
        if ok:
            for variant_id, q in picks:
                stock[variant_id] -= q
        return OrderRequest(
            customer_id=customer.customer_id,
            lines=tuple(LineRequest(v, q) for v, q in picks),
            payment_mode="prepaid" if prepaid else "pay_on_delivery",
            payment_method=method,
            payment_ok=ok,
        )

    def cancellations(self, candidates: Sequence[int], placed: int) -> list[int]:
        """About ``cancel_share * placed`` of the candidate order ids (the history's)."""
        if not candidates:
            return []
        want = self.profile.cancel_share * placed
        n = int(want) + (1 if self.rng.random() < want - int(want) else 0)
        return sorted(self.rng.sample(list(candidates), min(n, len(candidates))))

    def cancel_delays(self, placed: int, age: float) -> list[float]:
        """About ``cancel_share * placed`` delays (seconds after a confirmation) of the orders
        to cancel now, log-uniform between the profile's bounds; none above ``age`` (the
        shop's oldest confirmation): a young shop cancels its orders sooner."""
        p = self.profile
        top = min(p.cancel_delay_max, age)
        if top < p.cancel_delay_min:
            return []
        want = p.cancel_share * placed
        n = int(want) + (1 if self.rng.random() < want - int(want) else 0)
        low, high = math.log(p.cancel_delay_min), math.log(top)
        return [math.exp(self.rng.uniform(low, high)) for _ in range(n)]


@dataclass
class ProduceReport:
    orders: int = 0
    confirmed: int = 0
    cancelled_at_payment: int = 0
    cancelled_later: int = 0
    rejected: int = 0
    shipment_steps: int = 0
    delivered: int = 0
    rows: int = 0
    events_written: int = 0
    published: RelayReport = field(default_factory=lambda: RelayReport(by_topic={}))
    seconds: float = 0.0

    def count(self, result: WriteResult, asked: int) -> None:
        self.orders += len(result.placed)
        self.confirmed += sum(1 for o in result.placed if o.status == CONFIRMED)
        self.cancelled_at_payment += sum(1 for o in result.placed
                                         if o.status == CANCELLED)
        self.cancelled_later += len(result.cancelled)
        self.rejected += asked - len(result.placed)  # out of stock, or empty shelves
        self.shipment_steps += result.advanced
        self.delivered += result.delivered
        self.rows += result.rows
        self.events_written += result.events

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    @property
    def events_per_second(self) -> float:
        return self.published.events / self.seconds if self.seconds else 0.0


def check_orders(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_ORDERS:
        raise ConfigError(f"orders must be an integer from 0 to {MAX_ORDERS:,}, got {n!r}")
    return n


def _load_customers(cur, t: Tables, country: str | None) -> list[Customer]:
    if country:
        cur.execute(f"SELECT customer_id, country_code FROM {t.customers} "
                    "WHERE country_code = %s ORDER BY customer_id", (country,))
    else:
        cur.execute(f"SELECT customer_id, country_code FROM {t.customers} ORDER BY customer_id")
    return [Customer(*row) for row in cur.fetchall()]


def _stock(cur, t: Tables) -> dict[int, int]:
    cur.execute(f"SELECT variant_id, stock FROM {t.variants}")
    return dict(cur.fetchall())


class _Shelf:
    """The simulator's view of stock: read once, updated locally, re-read now and then.

    It only steers the shoppers; the domain checks real stock under row locks.
    Cancellations (stock back) make it an underestimate until the next re-read.
    """

    REFRESH_BATCHES = 20

    def __init__(self) -> None:
        self._stock: dict[int, int] | None = None
        self._age = 0

    def get(self, cur, t: Tables) -> dict[int, int]:
        if self._stock is None or self._age >= self.REFRESH_BATCHES:
            self._stock, self._age = _stock(cur, t), 0
        self._age += 1
        return self._stock

    def invalidate(self) -> None:
        self._stock = None


def _restock(cur, t: Tables, stock: dict[int, int], profile: ShopperProfile,
             now: datetime) -> int:
    """Top up the variants that ran low (by id: no table scan holding every row lock)."""
    low = {v: profile.restock_amount for v, left in stock.items() if left < profile.restock_below}
    add_stock(cur, t, low, naive_utc(now))
    for v, amount in low.items():
        stock[v] += amount
    return len(low)


class Timeline:
    """Order ids by confirmation time, to find the order confirmed about a given while ago
    without an index on ``confirmed_at``: ids grow with time, so a few (time, id) anchors
    read once per run, plus each batch's, bracket any moment (then one primary-key range
    read finds a cancellable order from there)."""

    ANCHORS = 64

    def __init__(self) -> None:
        self.anchors: list[tuple[datetime, int]] = []

    def load(self, cur, t: Tables) -> None:
        cur.execute(f"SELECT MIN(order_id), MAX(order_id) FROM {t.orders}")
        low, high = cur.fetchone()
        if low is None:
            return
        step = max(1, (high - low) // self.ANCHORS)
        ids = sorted({*range(low, high, step), high})
        cur.execute(f"SELECT placed_at, order_id FROM {t.orders} WHERE order_id IN "
                    f"({sql.placeholders(ids)})", ids)
        self.anchors = sorted((sql.aware_utc(at), oid) for at, oid in cur.fetchall())

    def add(self, at: datetime, order_id: int) -> None:
        if not self.anchors or order_id > self.anchors[-1][1]:
            self.anchors.append((at, order_id))

    def age(self, now: datetime) -> float:
        """Seconds since the oldest order (0: none yet)."""
        return (now - self.anchors[0][0]).total_seconds() if self.anchors else 0.0

    def near(self, moment: datetime) -> int | None:
        """An order id placed about ``moment`` (interpolated between anchors)."""
        i = bisect.bisect_left(self.anchors, (moment, -1))
        if i == 0:
            return self.anchors[0][1] if self.anchors else None
        if i == len(self.anchors):
            return self.anchors[-1][1]
        (t0, id0), (t1, id1) = self.anchors[i - 1], self.anchors[i]
        span = (t1 - t0).total_seconds()
        share = (moment - t0).total_seconds() / span if span > 0 else 0.0
        return id0 + int(share * (id1 - id0))


def cancel_candidates(cur, t: Tables, timeline: Timeline, now: datetime,
                       delays: Sequence[float]) -> list[int]:
    """For each delay, the first cancellable order (confirmed or delivered) placed at or
    after ``now - delay``."""
    found = []
    for delay in delays:
        start = timeline.near(now - timedelta(seconds=delay))
        if start is None:
            continue
        cur.execute(f"SELECT order_id FROM {t.orders} WHERE order_id >= %s AND status IN "
                    "(%s, %s) ORDER BY order_id LIMIT 1", (start, CONFIRMED, DELIVERED))
        row = cur.fetchone()
        if row is not None:
            found.append(row[0])
    return found


def _write_batch(
    conn, s: Settings, t: Tables, shoppers: Shoppers, shelf: _Shelf, n: int,
    timeline: Timeline,
) -> WriteResult:
    """One transaction: cancel a few, move shipments, restock, place ``n`` orders."""
    profile = shoppers.profile
    now = datetime.now(UTC)
    result = WriteResult()
    try:
        # The events go to the outbox last: its sequence is then the last lock taken.
        with _transaction(conn) as cur, outbox.events_last(cur, t):
            delays = shoppers.cancel_delays(n, timeline.age(now))
            cancel = cancel_candidates(cur, t, timeline, now, delays)
            result.add(cancel_orders(cur, s, cancel, CUSTOMER_REQUEST, now))
            steps = round(profile.shipment_steps_per_order * n)
            result.add(advance_shipments(cur, s, steps, now))
            stock = shelf.get(cur, t)
            _restock(cur, t, stock, profile, now)
            requests = [r for r in (shoppers.order(stock) for _ in range(n)) if r]
            result.add(place_orders(cur, s, requests, now, skip_rejected=True))
    except BaseException:
        shelf.invalidate()  # the local view counted work that was rolled back
        raise
    if result.rejected:
        shelf.invalidate()  # someone else took stock: look again
    return result


@contextmanager
def _transaction(conn) -> Iterator[sql.PipelinedCursor]:
    """A transaction on a long-lived connection: commit on success, roll back on error.

    Its bulk inserts run on a worker thread while the next rows are built
    (:class:`~topproducts.shop.sql.PipelinedCursor`); all have run before the commit.
    """
    with conn.cursor() as raw:
        cur = sql.PipelinedCursor(raw)
        try:
            yield cur
            cur.wait()
            conn.commit()
        except BaseException:
            cur.settle()
            conn.rollback()
            raise


def produce(
    settings: Settings | None = None,
    orders: int = 100,
    seed: int | None = None,
    rate: float | None = None,
    country: str | None = None,
    batch_size: int = 500,
    profile: ShopperProfile | None = None,
    progress: Progress | None = None,
) -> ProduceReport:
    """Place ``orders`` orders (MySQL + outbox) and publish their events (Kafka).

    ``rate`` caps orders per second (None: as fast as possible); ``country``
    limits shoppers to one country. Returns after the outbox is drained and the
    producer flushed: every event written was acknowledged by Kafka.
    """
    s = settings or get_settings()
    check_orders(orders)
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    if rate is not None:
        if rate <= 0:
            raise ConfigError(f"rate must be positive, got {rate}")
        batch_size = max(1, min(batch_size, int(rate)))  # about one batch per second or faster
    code = lookup_country(country).code if country else None
    profile = profile or ShopperProfile.configured(s)
    t = Tables.of(s)
    report = ProduceReport()
    started = time.perf_counter()
    kafka_io.ensure_topics(s)
    ensure_schema(s)  # cheap when current; an unseeded shop then says "seed first"
    timeline = Timeline()
    with db.transaction(s) as conn, conn.cursor() as cur:
        customers = _load_customers(cur, t, code)
        variant_ids = list(_stock(cur, t))
        timeline.load(cur, t)
    if not customers and code:
        raise EmptyCatalogue(f"no customers in {code}: seed more customers first")
    shoppers = Shoppers(random.Random(seed), customers, variant_ids, profile)

    # The relay publishes batch k on a worker thread while batch k+1 is being written;
    # at most one relay call runs at a time (the relay's connection is not shared).
    shelf = _Shelf()
    writer = db.connect(s)
    with closing(writer), Relay(s) as relay, ThreadPoolExecutor(1, "relay") as pool:
        report.published.add(relay.publish_pending())  # leftovers of an earlier crash
        publishing: Future[RelayReport] | None = None
        while report.orders < orders:
            n = min(batch_size, orders - report.orders)
            result = retrying(
                partial(_write_batch, writer, s, t, shoppers, shelf, n, timeline))
            report.count(result, n)
            if result.placed:
                timeline.add(datetime.now(UTC), max(o.order_id for o in result.placed))
            if publishing is not None:
                report.published.add(publishing.result())
            publishing = pool.submit(relay.publish_pending)
            if progress:
                progress("orders", report.orders, orders)
            if not result.placed:
                raise TopProductsError("no order could be placed (all shelves empty?)")
            if rate:
                ahead = report.orders / rate - (time.perf_counter() - started)
                if ahead > 0:
                    time.sleep(ahead)
        if publishing is not None:
            report.published.add(publishing.result())
    report.seconds = time.perf_counter() - started
    return report
