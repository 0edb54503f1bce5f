"""The domain operation "place an order": rows, stock and events in one transaction.

The simulator (:mod:`~topproducts.shop.simulator`) and the order API call the
same functions, so both write the same rows and the same events. Events go to
the outbox in the caller's transaction (:mod:`~topproducts.shop.outbox`); nothing
here talks to Kafka. Stock is checked and taken under row locks
(``SELECT ... FOR UPDATE``); a line asking for more than is left raises
:class:`~topproducts.shop.errors.OutOfStock`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypedDict

from topproducts import db
from topproducts.countries import BY_CODE
from topproducts.events import (
    LineItem,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    PaymentRecorded,
    ShipmentUpdated,
)
from topproducts.settings import Settings, get_settings
from topproducts.shop import pricing
from topproducts.shop.batch import WriteBatch
from topproducts.shop.catalogue import customer_countries, load_fx_rates, load_variants
from topproducts.shop.errors import OrderError, OutOfStock, UnknownCustomer, UnknownVariant
from topproducts.shop.lifecycle import (
    CANCELLED,
    CONFIRMED,
    PAYMENT_FAILED,
    PLACED,
    POD_DECLINED,
    PaymentStatus,
)
from topproducts.shop.model import OrderRequest, PlacedOrder, WriteResult
from topproducts.shop.reference import CARRIERS, SHIPMENT_FLOW
from topproducts.shop.retry import retrying
from topproducts.shop.schema import Tables, allocate_ids
from topproducts.shop.stock import lock_stock, replace_stock

FLUSH_EVERY = 100  # orders: place_orders writes in chunks of this many


class _OrderFields(TypedDict):
    """The fields an order's three events (placed, confirmed, cancelled) share."""

    order_id: int
    customer_id: int
    country: str
    currency: str
    fx_rate_usd: Decimal
    total: Decimal
    items: list[LineItem]


def carrier_of(country: str, order_id: int) -> str:
    """The carrier that ships an order (spread over the country's carriers by id)."""
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
    batch = WriteBatch(settings, t, now)
    variant_ids = {x.variant_id for r in requests for x in r.lines}
    stock = lock_stock(cur, t, list(variant_ids))
    variants = load_variants(cur, t, list(variant_ids))
    customers = customer_countries(cur, t, [r.customer_id for r in requests])
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
        common = _OrderFields(order_id=order_id, customer_id=request.customer_id,
                              country=country.code, currency=country.currency, fx_rate_usd=fx,
                              total=totals.total, items=items)
        prepaid = request.payment_mode == "prepaid"
        payment_status: PaymentStatus
        reason: str | None
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
            carrier = carrier_of(country.code, order_id)
            tracking = f"{country.code}{shipment_id:012d}"
            batch.rows["shipments"].append((shipment_id, order_id, carrier, tracking,
                                            SHIPMENT_FLOW[0], 1, ts, ts))
            batch.rows["shipment_history"].append((shipment_id, SHIPMENT_FLOW[0], ts))
            batch.event(ShipmentUpdated(order_id=order_id, shipment_id=shipment_id,
                                        carrier=carrier, status=SHIPMENT_FLOW[0]))
            events += 2
        else:
            assert reason is not None  # set whenever the payment failed
            batch.event(OrderCancelled(**common, reason=reason, confirmed_at=None))
            events += 1
        result.placed.append(PlacedOrder(
            order_id=order_id, customer_id=request.customer_id, country=country.code,
            currency=country.currency, status=status, total=totals.total,
            total_usd=totals.revenue_usd, lines=len(items), events=events))
        if len(batch.rows["orders"]) >= FLUSH_EVERY:
            batch.flush(cur)  # on a PipelinedCursor, MySQL inserts these while we build more

    rows, events = batch.flush(cur)
    replace_stock(cur, t, new_stock, ts)
    result.rows, result.events = rows + len(new_stock), events
    return result


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
