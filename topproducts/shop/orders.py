"""The domain operation "place an order", and what happens to an order afterwards.

Used by the simulator and (later) the order API, so both write the same rows
and the same events. Every function here works on the caller's cursor, inside
the caller's transaction, and writes its events to the outbox in that same
transaction (see :mod:`topproducts.shop.outbox`); nothing here talks to Kafka.

Lifecycle of an order::

    placed --payment ok--> confirmed --shipment steps--> delivered
       |                       |
       +--payment failed--> cancelled (confirmed_at None: nothing to retract)
                               +--cancel while Processing--> cancelled (confirmed_at set)

- prepaid: the payment is ``paid`` (order confirmed) or ``failed`` (order cancelled);
- pay on delivery: the payment is ``pending`` and the order is confirmed when
  accepted (``failed`` and cancelled when not); it becomes ``paid`` on delivery;
- a confirmed order gets a shipment (Processing -> Shipped -> In Transit ->
  Out for Delivery -> Delivered), one step per :func:`advance_shipments`;
- a confirmed order whose shipment is still Processing can be cancelled: its
  stock is restored and ``order_cancelled`` carries ``confirmed_at`` so the
  leaderboards retract its items.

Stock is checked and decremented under row locks (``SELECT ... FOR UPDATE``);
a line asking for more than is left raises :class:`OutOfStock`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal, TypeVar

import pymysql

from topproducts import db
from topproducts.countries import BY_CODE
from topproducts.errors import TopProductsError
from topproducts.events import (
    LineItem,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    PaymentRecorded,
    ShipmentUpdated,
)
from topproducts.settings import Settings, get_settings
from topproducts.shop import outbox, pricing, sql
from topproducts.shop.reference import CARRIERS, SHIPMENT_CANCELLED, SHIPMENT_FLOW
from topproducts.shop.schema import Tables, allocate_ids

T = TypeVar("T")
PaymentMode = Literal["prepaid", "pay_on_delivery"]
PAYMENT_MODES: tuple[str, ...] = ("prepaid", "pay_on_delivery")
MAX_LINES = 10
MAX_QUANTITY = 5
FLUSH_EVERY = 100  # orders: place_orders writes in chunks of this many

# Order statuses.
PLACED, CONFIRMED, CANCELLED, DELIVERED = "placed", "confirmed", "cancelled", "delivered"
# Cancel reasons.
PAYMENT_FAILED = "payment_failed"
POD_DECLINED = "pay_on_delivery_declined"
CUSTOMER_REQUEST = "customer_request"


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


@dataclass(frozen=True)
class _Variant:
    variant_id: int
    product_id: int
    product_name: str
    material: str
    seller: str
    price_usd: Decimal
    tax_rate: Decimal
    discount_rate: Decimal


class _Batch:
    """Rows and events to write, grouped per table, flushed as multi-row INSERTs.

    It may be flushed more than once (each flush writes what was added since the last);
    rows keep their order within each table, so the tables end up the same.
    """

    def __init__(self, settings: Settings, tables: Tables, now: datetime) -> None:
        self.settings, self.t, self.now = settings, tables, now
        self.ts = outbox.naive_utc(now)
        self.rows: dict[str, list[tuple]] = defaultdict(list)
        self.events = outbox.EventRows(settings, now)
        self.written_rows = self.written_events = 0

    def event(self, payload, occurred_at: datetime | None = None) -> None:
        self.events.add(payload, occurred_at)

    def flush(self, cur) -> tuple[int, int]:
        """Write the pending rows and events; return the rows and events written so far."""
        t = self.t
        statements = {
            "orders": f"INSERT INTO {t.orders} (order_id, customer_id, country_code, currency, "
                      "fx_rate_usd, payment_mode, status, subtotal, discount, tax, total, "
                      "revenue, revenue_usd, placed_at, confirmed_at, cancelled_at, "
                      "cancel_reason) VALUES",
            "items": f"INSERT INTO {t.order_items} (order_id, line_no, variant_id, product_id, "
                     "product_name, material, quantity, unit_price, subtotal, discount, tax, "
                     "line_total, revenue, revenue_usd) VALUES",
            "order_history": f"INSERT INTO {t.order_status_history} (order_id, status, "
                             "changed_at) VALUES",
            "payments": f"INSERT INTO {t.payments} (payment_id, order_id, mode, method, status, "
                        "amount, currency, created_at, updated_at) VALUES",
            "shipments": f"INSERT INTO {t.shipments} (shipment_id, order_id, carrier, "
                         "tracking_number, status, is_open, created_at, updated_at) VALUES",
            "shipment_history": f"INSERT INTO {t.shipment_status_history} (shipment_id, status, "
                                "changed_at) VALUES",
        }
        rows = 0
        for name, statement in statements.items():  # parents before children
            if self.rows[name]:
                sql.insert_many(cur, statement, self.rows[name])
                rows += len(self.rows[name])
        rows += outbox.write(cur, self.t, self.events.rows())
        self.written_rows += rows
        self.written_events += len(self.events)
        self.rows.clear()
        self.events = outbox.EventRows(self.settings, self.now)
        return self.written_rows, self.written_events


def _in(values: Sequence) -> str:
    return ",".join(["%s"] * len(values))


def load_fx_rates(cur, tables: Tables) -> dict[str, Decimal]:
    cur.execute(f"SELECT currency, rate_usd FROM {tables.fx_rates}")
    return {currency: Decimal(rate) for currency, rate in cur.fetchall()}


def _lock_stock(cur, tables: Tables, variant_ids: Sequence[int]) -> dict[int, int]:
    ids = sorted(set(variant_ids))  # one lock order for everyone: fewer deadlocks
    cur.execute(f"SELECT variant_id, stock FROM {tables.variants} "
                f"WHERE variant_id IN ({_in(ids)}) ORDER BY variant_id FOR UPDATE", ids)
    return dict(cur.fetchall())


def _load_variants(cur, tables: Tables, variant_ids: Sequence[int]) -> dict[int, _Variant]:
    ids = sorted(set(variant_ids))
    cur.execute(
        f"SELECT v.variant_id, v.product_id, p.name, m.name, s.name, v.price_usd, v.tax_rate, "
        f"v.discount_rate FROM {tables.variants} v "
        f"JOIN {tables.products} p ON p.product_id = v.product_id "
        f"JOIN {tables.materials} m ON m.material_id = v.material_id "
        f"JOIN {tables.sellers} s ON s.seller_id = v.seller_id "
        f"WHERE v.variant_id IN ({_in(ids)})", ids)
    return {row[0]: _Variant(*row) for row in cur.fetchall()}


def _set_stock(cur, tables: Tables, stock: dict[int, int], ts: datetime) -> None:
    if not stock:
        return
    ids = sorted(stock)
    cases = " ".join("WHEN %s THEN %s" for _ in ids)
    params: list[object] = [x for vid in ids for x in (vid, stock[vid])]
    cur.execute(f"UPDATE {tables.variants} SET stock = CASE variant_id {cases} END, "
                f"updated_at = %s WHERE variant_id IN ({_in(ids)})", [*params, ts, *ids])


def add_stock(cur, tables: Tables, delta: dict[int, int], ts: datetime) -> None:
    """Add (or with negative values remove) units of stock per variant id."""
    if not delta:
        return
    ids = sorted(delta)
    cases = " ".join("WHEN %s THEN %s" for _ in ids)
    params: list[object] = [x for vid in ids for x in (vid, delta[vid])]
    cur.execute(f"UPDATE {tables.variants} SET stock = stock + CASE variant_id {cases} END, "
                f"updated_at = %s WHERE variant_id IN ({_in(ids)})", [*params, ts, *ids])


def _carrier(country: str, order_id: int) -> str:
    options = CARRIERS[country]
    return options[order_id % len(options)]


def place_orders(
    cur,
    settings: Settings,
    requests: Sequence[OrderRequest],
    now: datetime | None = None,
    skip_rejected: bool = False,
) -> WriteResult:
    """Place many orders on the caller's cursor (one transaction), with their events.

    Raises :class:`OutOfStock`, :class:`UnknownCustomer` or :class:`UnknownVariant`
    for the first bad request, unless ``skip_rejected``: then bad requests are
    returned in ``rejected`` and the others are placed.
    """
    result = WriteResult()
    if not requests:
        return result
    now = now or datetime.now(UTC)
    t = Tables.of(settings)
    batch = _Batch(settings, t, now)
    variant_ids = {x.variant_id for r in requests for x in r.lines}
    stock = _lock_stock(cur, t, list(variant_ids))
    variants = _load_variants(cur, t, list(variant_ids))
    customer_ids = sorted({r.customer_id for r in requests})
    cur.execute(f"SELECT customer_id, country_code FROM {t.customers} "
                f"WHERE customer_id IN ({_in(customer_ids)})", customer_ids)
    customers = dict(cur.fetchall())
    fx_rates = load_fx_rates(cur, t)

    accepted: list[OrderRequest] = []
    new_stock: dict[int, int] = {}
    for request in requests:
        try:
            if request.customer_id not in customers:
                raise UnknownCustomer(request.customer_id)
            for line in request.lines:
                if line.variant_id not in variants:
                    raise UnknownVariant(line.variant_id)
                left = new_stock.get(line.variant_id, stock[line.variant_id])
                if line.quantity > left:
                    raise OutOfStock(line.variant_id, line.quantity, left)
        except OrderError as exc:
            if not skip_rejected:
                raise
            result.rejected.append((request, exc))
            continue
        accepted.append(request)
        if request.payment_ok:  # a failed payment cancels at once: stock comes straight back
            for line in request.lines:
                left = new_stock.get(line.variant_id, stock[line.variant_id])
                new_stock[line.variant_id] = left - line.quantity
    if not accepted:
        return result

    order_ids = allocate_ids(cur, t.order_sequences, "order", len(accepted))
    payment_ids = allocate_ids(cur, t.payment_sequences, "payment", len(accepted))
    n_confirmed = sum(1 for r in accepted if r.payment_ok)
    shipment_ids = iter(allocate_ids(cur, t.shipment_sequences, "shipment", n_confirmed))
    ts = batch.ts
    # Popular variants recur in a batch: price each (variant, quantity, currency) once.
    priced: dict[tuple[int, int, str], pricing.LinePrice] = {}
    for request, order_id, payment_id in zip(accepted, order_ids, payment_ids, strict=True):
        country = BY_CODE[customers[request.customer_id]]
        fx = fx_rates[country.currency]
        items: list[LineItem] = []
        prices: list[pricing.LinePrice] = []
        for line_no, line in enumerate(request.lines, start=1):
            v = variants[line.variant_id]
            key = (v.variant_id, line.quantity, country.currency)
            p = priced.get(key)
            if p is None:
                p = priced[key] = pricing.price_line(v.price_usd, line.quantity, fx,
                                                     v.discount_rate, v.tax_rate)
            prices.append(p)
            items.append(LineItem(
                line_no=line_no, variant_id=v.variant_id, product_id=v.product_id,
                product_name=v.product_name, material=v.material, quantity=p.quantity,
                unit_price=p.unit_price, revenue=p.revenue, revenue_usd=p.revenue_usd,
                seller=v.seller))
            batch.rows["items"].append((
                order_id, line_no, v.variant_id, v.product_id, v.product_name, v.material,
                p.quantity, p.unit_price, p.subtotal, p.discount, p.tax, p.line_total,
                p.revenue, p.revenue_usd))
        totals = pricing.order_totals(prices)
        common = dict(order_id=order_id, customer_id=request.customer_id, country=country.code,
                      currency=country.currency, fx_rate_usd=fx, total=totals.total,
                      items=items)
        prepaid = request.payment_mode == "prepaid"
        if request.payment_ok:
            status, payment_status, reason = CONFIRMED, "paid" if prepaid else "pending", None
        else:
            status, payment_status = CANCELLED, "failed"
            reason = PAYMENT_FAILED if prepaid else POD_DECLINED
        confirmed_at = ts if request.payment_ok else None
        cancelled_at = None if request.payment_ok else ts
        batch.rows["orders"].append((
            order_id, request.customer_id, country.code, country.currency, fx,
            request.payment_mode, status, totals.subtotal, totals.discount, totals.tax,
            totals.total, totals.revenue, totals.revenue_usd, ts, confirmed_at, cancelled_at,
            reason))
        batch.rows["order_history"] += [(order_id, PLACED, ts), (order_id, status, ts)]
        batch.rows["payments"].append((payment_id, order_id, request.payment_mode,
                                       request.payment_method, payment_status, totals.total,
                                       country.currency, ts, ts))
        batch.event(OrderPlaced(**common, payment_mode=request.payment_mode))
        batch.event(PaymentRecorded(
            order_id=order_id, payment_id=payment_id, mode=request.payment_mode,
            method=request.payment_method, status=payment_status, amount=totals.total,
            currency=country.currency))
        events = 2
        if request.payment_ok:
            batch.event(OrderConfirmed(**common, confirmed_at=now))
            shipment_id = next(shipment_ids)
            carrier = _carrier(country.code, order_id)
            tracking = f"{country.code}{shipment_id:012d}"
            batch.rows["shipments"].append((shipment_id, order_id, carrier, tracking,
                                            SHIPMENT_FLOW[0], 1, ts, ts))
            batch.rows["shipment_history"].append((shipment_id, SHIPMENT_FLOW[0], ts))
            batch.event(ShipmentUpdated(order_id=order_id, shipment_id=shipment_id,
                                        carrier=carrier, status=SHIPMENT_FLOW[0]))
            events += 2
        else:
            batch.event(OrderCancelled(**common, reason=reason, confirmed_at=None))
            events += 1
        result.placed.append(PlacedOrder(
            order_id=order_id, customer_id=request.customer_id, country=country.code,
            currency=country.currency, status=status, total=totals.total,
            total_usd=totals.revenue_usd, lines=len(items), events=events))
        if len(batch.rows["orders"]) >= FLUSH_EVERY:
            batch.flush(cur)  # on a PipelinedCursor, MySQL inserts these while we build more

    rows, events = batch.flush(cur)
    _set_stock(cur, t, new_stock, ts)
    result.rows, result.events = rows + len(new_stock), events
    return result


def is_transient(exc: BaseException) -> bool:
    """A deadlock or lock wait timeout: the transaction was rolled back and may be retried."""
    return isinstance(exc, pymysql.err.OperationalError) and exc.args[:1] in ((1213,), (1205,))


def retrying(fn: Callable[[], T], attempts: int = 3) -> T:
    """Run a whole transaction ``fn``; run it again if it lost a deadlock."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except pymysql.err.OperationalError as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def place_order(
    request: OrderRequest, settings: Settings | None = None, now: datetime | None = None
) -> PlacedOrder:
    """Place one order in its own transaction (the order API's entry point).

    Its events are in the outbox when this returns; a relay publishes them.
    """
    s = settings or get_settings()

    def attempt() -> PlacedOrder:
        with db.transaction(s) as conn, conn.cursor() as cur:
            return place_orders(cur, s, [request], now).placed[0]

    return retrying(attempt)


def cancel_orders(
    cur,
    settings: Settings,
    order_ids: Iterable[int],
    reason: str = CUSTOMER_REQUEST,
    now: datetime | None = None,
) -> WriteResult:
    """Cancel confirmed orders whose shipment is still Processing; others are left alone.

    Restores their stock, closes the shipment (Cancelled) and emits
    ``order_cancelled`` with the original ``confirmed_at``.
    """
    result = WriteResult()
    ids = sorted(set(order_ids))
    if not ids:
        return result
    now = now or datetime.now(UTC)
    t = Tables.of(settings)
    batch = _Batch(settings, t, now)
    ts = batch.ts
    cur.execute(
        f"SELECT o.order_id, o.customer_id, o.country_code, o.currency, o.fx_rate_usd, o.total, "
        f"o.confirmed_at, s.shipment_id, s.carrier FROM {t.orders} o "
        f"JOIN {t.shipments} s ON s.order_id = o.order_id "
        f"WHERE o.order_id IN ({_in(ids)}) AND o.status = %s AND s.status = %s "
        f"ORDER BY o.order_id FOR UPDATE",
        [*ids, CONFIRMED, SHIPMENT_FLOW[0]])
    orders = cur.fetchall()
    if not orders:
        return result
    found = [row[0] for row in orders]
    cur.execute(
        f"SELECT i.order_id, i.line_no, i.variant_id, i.product_id, i.product_name, "
        f"i.material, i.quantity, i.unit_price, i.revenue, i.revenue_usd, s.name "
        f"FROM {t.order_items} i JOIN {t.variants} v ON v.variant_id = i.variant_id "
        f"JOIN {t.sellers} s ON s.seller_id = v.seller_id "
        f"WHERE i.order_id IN ({_in(found)}) ORDER BY i.order_id, i.line_no", found)
    items: dict[int, list[LineItem]] = defaultdict(list)
    restock: dict[int, int] = defaultdict(int)
    for (order_id, line_no, variant_id, product_id, name, material, qty, unit, revenue,
         revenue_usd, seller) in cur.fetchall():
        items[order_id].append(LineItem(
            line_no=line_no, variant_id=variant_id, product_id=product_id, product_name=name,
            material=material, quantity=qty, unit_price=unit, revenue=revenue,
            revenue_usd=revenue_usd, seller=seller))
        restock[variant_id] += qty
    for (order_id, customer_id, country, currency, fx, total, confirmed_at, shipment_id,
         carrier) in orders:
        batch.event(OrderCancelled(
            order_id=order_id, customer_id=customer_id, country=country, currency=currency,
            fx_rate_usd=fx, total=total, items=items[order_id], reason=reason,
            confirmed_at=confirmed_at.replace(tzinfo=UTC)))
        batch.event(ShipmentUpdated(order_id=order_id, shipment_id=shipment_id, carrier=carrier,
                                    status=SHIPMENT_CANCELLED))
        batch.rows["order_history"].append((order_id, CANCELLED, ts))
        batch.rows["shipment_history"].append((shipment_id, SHIPMENT_CANCELLED, ts))
    shipment_ids = [row[7] for row in orders]
    cur.execute(f"UPDATE {t.orders} SET status = %s, cancelled_at = %s, cancel_reason = %s "
                f"WHERE order_id IN ({_in(found)})", [CANCELLED, ts, reason, *found])
    cur.execute(f"UPDATE {t.shipments} SET status = %s, is_open = 0, updated_at = %s "
                f"WHERE shipment_id IN ({_in(shipment_ids)})",
                [SHIPMENT_CANCELLED, ts, *shipment_ids])
    add_stock(cur, t, dict(restock), ts)
    rows, events = batch.flush(cur)
    result.cancelled = found
    result.rows = rows + 2 * len(found) + len(restock)
    result.events = events
    return result


def advance_shipments(
    cur, settings: Settings, limit: int, now: datetime | None = None
) -> WriteResult:
    """Move up to ``limit`` open shipments (oldest first) one step along the flow.

    On Delivered the shipment closes, the order becomes ``delivered``, and a
    pending pay-on-delivery payment becomes ``paid`` (with its event).
    """
    result = WriteResult()
    if limit <= 0:
        return result
    now = now or datetime.now(UTC)
    t = Tables.of(settings)
    batch = _Batch(settings, t, now)
    ts = batch.ts
    cur.execute(f"SELECT shipment_id, order_id, carrier, status FROM {t.shipments} "
                f"WHERE is_open = 1 ORDER BY shipment_id LIMIT %s FOR UPDATE", (limit,))
    moving = cur.fetchall()
    by_status: dict[str, list[int]] = defaultdict(list)
    delivered_orders: list[int] = []
    for shipment_id, order_id, carrier, status in moving:
        step = SHIPMENT_FLOW[SHIPMENT_FLOW.index(status) + 1]
        by_status[step].append(shipment_id)
        batch.rows["shipment_history"].append((shipment_id, step, ts))
        batch.event(ShipmentUpdated(order_id=order_id, shipment_id=shipment_id, carrier=carrier,
                                    status=step))
        if step == SHIPMENT_FLOW[-1]:
            delivered_orders.append(order_id)
    updates = 0
    for step, shipment_ids in by_status.items():
        done = step == SHIPMENT_FLOW[-1]
        cur.execute(f"UPDATE {t.shipments} SET status = %s, is_open = %s, updated_at = %s, "
                    f"delivered_at = %s WHERE shipment_id IN ({_in(shipment_ids)})",
                    [step, 0 if done else 1, ts, ts if done else None, *shipment_ids])
        updates += len(shipment_ids)
    if delivered_orders:
        cur.execute(f"UPDATE {t.orders} SET status = %s WHERE order_id IN "
                    f"({_in(delivered_orders)}) AND status = %s",
                    [DELIVERED, *delivered_orders, CONFIRMED])
        updates += len(delivered_orders)
        batch.rows["order_history"] += [(o, DELIVERED, ts) for o in delivered_orders]
        cur.execute(f"SELECT payment_id, order_id, mode, method, amount, currency "
                    f"FROM {t.payments} WHERE order_id IN ({_in(delivered_orders)}) "
                    f"AND status = 'pending' FOR UPDATE", delivered_orders)
        pending = cur.fetchall()
        if pending:
            cur.execute(f"UPDATE {t.payments} SET status = 'paid', updated_at = %s "
                        f"WHERE payment_id IN ({_in(pending)})", [ts, *(p[0] for p in pending)])
            updates += len(pending)
        for payment_id, order_id, mode, method, amount, currency in pending:
            batch.event(PaymentRecorded(order_id=order_id, payment_id=payment_id, mode=mode,
                                        method=method, status="paid", amount=amount,
                                        currency=currency))
    rows, events = batch.flush(cur)
    result.advanced = len(moving)
    result.delivered = len(delivered_orders)
    result.rows, result.events = rows + updates, events
    return result
