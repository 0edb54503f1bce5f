"""Preload a Kafka topic with a large backlog of order events, fast, and say what it must sum to.

    from bench.drain_data import preload
    report = preload(settings, topic, events=1_000_000)

The mix follows the simulator (:class:`topproducts.shop.simulator.ShopperProfile`):
each order is ``order_placed`` then either ``order_confirmed`` or, for a failed
payment, ``order_cancelled`` without ``confirmed_at``; about 3% of placed orders
are cancelled again shortly after confirmation (``order_cancelled`` with
``confirmed_at``: a retraction). About ``malformed_share`` of the messages are
malformed in one of five ways (:data:`MALFORMED_KINDS`). Event times are spread
like live traffic at :data:`ORDERS_PER_SECOND` ending at the moment ``preload``
starts, so none is late for the stream's 10-minute watermark.

Speed: the JSON is assembled from string templates in exactly the bytes
:func:`topproducts.events.encode` produces (pydantic is far too slow for a
million events); each distinct (variant, quantity, currency) line is priced and
rendered once. The expected totals are accumulated in integer cents on the way.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache

from confluent_kafka import Producer

from topproducts import kafka_io
from topproducts.countries import COUNTRIES, GLOBAL_SCOPE
from topproducts.money import round_money
from topproducts.settings import Settings
from topproducts.shop import pricing, reference
from topproducts.shop.lifecycle import CUSTOMER_REQUEST, PAYMENT_FAILED, POD_DECLINED
from topproducts.shop.simulator import ShopperProfile

ORDERS_PER_SECOND = 1000  # the pace the event times are spread at
CUSTOMERS = 10_000
MALFORMED_KINDS = ("not_json", "empty_value", "missing_event_id", "negative_quantity",
                   "unknown_event_type")
_FX = [reference.FX_RATES_USD[c.currency] for c in COUNTRIES]

TotalKey = tuple[str, int]  # (scope, variant_id)


@dataclass
class PreloadReport:
    """What :func:`preload` wrote, and what the leaderboards must say once it is all counted.

    ``totals`` maps (scope, variant_id) -> (quantity, revenue in USD) for the
    all-time window, scopes being the five countries and ``GLOBAL``; a variant
    whose confirmations were all retracted is present with (0, 0.00).
    ``counting_events`` is the number of valid events the counting rule applies
    to: ``order_confirmed`` plus ``order_cancelled`` with ``confirmed_at``.
    """

    topic: str
    events: int = 0  # messages written, malformed included
    malformed: int = 0
    orders: int = 0
    placed: int = 0
    confirmed: int = 0
    cancelled_at_payment: int = 0
    cancelled_later: int = 0
    first_order_id: int = 1
    last_order_id: int = 0
    seconds: float = 0.0
    totals: dict[TotalKey, tuple[int, Decimal]] = field(default_factory=dict)

    @property
    def counting_events(self) -> int:
        return self.confirmed + self.cancelled_later

    @property
    def valid_events(self) -> int:
        return self.events - self.malformed

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


# --- the synthetic catalogue: a pure function of the variant id ---------------------------


@dataclass(frozen=True)
class VariantInfo:
    variant_id: int
    product_id: int
    product_name: str
    material: str
    price_usd: Decimal
    discount_rate: Decimal
    tax_rate: Decimal


@cache
def variant_info(variant_id: int) -> VariantInfo:
    """The product, name, material and price of a variant (stable per id, whatever the seed)."""
    product_id = variant_id // 3 + 1
    prng = random.Random(product_id)
    _category, tax_rate, (low, high), nouns = reference.CATEGORIES[
        prng.randrange(len(reference.CATEGORIES))]
    name = f"{prng.choice(reference.ADJECTIVES)} {prng.choice(nouns)} {product_id}"
    base_cents = prng.randint(low * 100, high * 100)
    material, multiplier = reference.MATERIALS[variant_id % len(reference.MATERIALS)]
    vrng = random.Random(-variant_id)
    price = max(round_money(Decimal(base_cents) / 100 * multiplier), Decimal("0.50"))
    return VariantInfo(variant_id, product_id, name, material, price,
                       vrng.choice(reference.DISCOUNT_RATES), tax_rate)


# --- the wire format ---------------------------------------------------------------------


def _cents(c: int) -> str:
    """Non-negative cents as Decimal's str of a 2-place amount (what pydantic writes)."""
    return f"{c // 100}.{c % 100:02d}"


class _Clock:
    """Timestamps as the wire writes them, from integer epoch microseconds (cached per second)."""

    def __init__(self) -> None:
        self._sec = -1
        self._prefix = ""

    def _head(self, us: int) -> tuple[str, int]:
        sec, micro = divmod(us, 1_000_000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return self._prefix, micro

    def envelope(self, us: int) -> str:
        """``occurred_at``: :func:`topproducts.events.utc_iso` (always 6 digits)."""
        prefix, micro = self._head(us)
        return f"{prefix}.{micro:06d}Z"

    def payload(self, us: int) -> str:
        """``confirmed_at`` inside a payload: pydantic drops a zero fraction."""
        prefix, micro = self._head(us)
        return f"{prefix}.{micro:06d}Z" if micro else f"{prefix}Z"


def _uuid4(bits: int) -> str:
    """str(uuid.UUID(int=bits, version=4)), without the UUID object."""
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def envelope_bytes(event_id: str, event_type: str, occurred_at: str, payload: str) -> bytes:
    """The canonical envelope around an already-rendered payload object."""
    return (f'{{"event_id":"{event_id}","event_type":"{event_type}","schema_version":1,'
            f'"occurred_at":"{occurred_at}","payload":{{{payload}}}}}').encode()


@cache
def _line(variant_id: int, quantity: int, country_index: int) -> tuple[str, int, int]:
    """(JSON of a line item after its line_no, revenue_usd cents, line total cents)."""
    v = variant_info(variant_id)
    p = pricing.price_line(v.price_usd, quantity, _FX[country_index], v.discount_rate,
                           v.tax_rate)
    tail = (f',"variant_id":{variant_id},"product_id":{v.product_id},'
            f'"product_name":"{v.product_name}","material":"{v.material}",'
            f'"quantity":{quantity},"unit_price":"{p.unit_price}","revenue":"{p.revenue}",'
            f'"revenue_usd":"{p.revenue_usd}","seller":"Seller {variant_id % 5 + 1}"}}')
    return tail, int(p.revenue_usd * 100), int(p.line_total * 100)


# --- generation --------------------------------------------------------------------------


Sink = Callable[[str, bytes], None]  # (key, value)


class _Generator:
    """Orders in the simulator's mix, rendered and handed to ``sink``, totals on the side."""

    def __init__(self, sink: Sink, variants: int, malformed_share: float, seed: int,
                 first_order_id: int, orders_hint: int, now_us: int,
                 profile: ShopperProfile | None = None) -> None:
        self.sink = sink
        self.rng = random.Random(seed)
        self.ids = random.Random()  # event ids: unique across runs even with the same seed
        self.profile = p = profile or ShopperProfile()
        ranked = list(range(1, variants + 1))
        self.rng.shuffle(ranked)  # which variants are popular depends on the seed
        self.variants = ranked
        cum, acc = [], 0.0
        for rank in range(variants):
            acc += 1.0 / (rank + 1) ** p.popularity_skew
            cum.append(acc)
        self.cum = cum
        crng = random.Random(seed * 7919 + 1)
        self.customer_country = [crng.randrange(len(COUNTRIES)) for _ in range(CUSTOMERS + 1)]
        self.confirm_share = (p.prepaid_share * p.prepaid_success
                              + (1 - p.prepaid_share) * p.pod_acceptance)
        self.cancel_given_confirmed = min(1.0, p.cancel_share / self.confirm_share)
        self.malformed_share = malformed_share
        self.next_order = first_order_id
        self.step_us = 1_000_000 // ORDERS_PER_SECOND
        self.start_us = now_us - orders_hint * self.step_us
        self.now_us = now_us
        self.clock = _Clock()
        self.pending: list[tuple[int, int, str, int, str]] = []  # cancellations due later
        self.pending_lines: dict[int, tuple[int, list[tuple[int, int, int]]]] = {}
        self.index = 0  # orders generated
        self.report_counts = dict.fromkeys(
            ("events", "malformed", "placed", "confirmed", "cancelled_at_payment",
             "cancelled_later"), 0)
        n = variants + 1
        self.qty = [[0] * n for _ in COUNTRIES]
        self.cents = [[0] * n for _ in COUNTRIES]
        self.hits = [[0] * n for _ in COUNTRIES]
        self.malformed_kind = 0

    # one message out, with a malformed one now and then
    def _emit(self, key: str, value: bytes) -> None:
        c = self.report_counts
        if self.rng.random() < self.malformed_share:
            self._emit_malformed()
        self.sink(key, value)
        c["events"] += 1

    def _count(self, ci: int, lines: list[tuple[int, int, int]], sign: int) -> None:
        qty, cents, hits = self.qty[ci], self.cents[ci], self.hits[ci]
        for v, q, rev in lines:
            qty[v] += sign * q
            cents[v] += sign * rev
            hits[v] += 1

    def order(self) -> None:
        """Place one order (and emit what is due: its events, and cancellations of earlier ones)."""
        rng, p = self.rng, self.profile
        i = self.index
        self.index += 1
        at = min(self.start_us + i * self.step_us, self.now_us)
        while self.pending and self.pending[0][0] <= i:
            self._cancel_later(at, *heapq.heappop(self.pending)[1:])
        order_id = self.next_order
        self.next_order += 1
        customer = rng.randint(1, CUSTOMERS)
        ci = self.customer_country[customer]
        country = COUNTRIES[ci]
        n = rng.choices(range(1, len(p.line_weights) + 1), p.line_weights)[0]
        picks = rng.choices(self.variants, cum_weights=self.cum, k=n + 2)
        quantities = rng.choices(range(1, len(p.quantity_weights) + 1), p.quantity_weights,
                                 k=n)
        seen: set[int] = set()
        parts: list[str] = []
        lines: list[tuple[int, int, int]] = []
        total = 0
        for v in picks:
            if v in seen:
                continue
            seen.add(v)
            q = quantities[len(lines)]
            tail, rev, line_total = _line(v, q, ci)
            parts.append(f'{{"line_no":{len(lines) + 1}{tail}')
            lines.append((v, q, rev))
            total += line_total
            if len(lines) == n:
                break
        prepaid = rng.random() < p.prepaid_share
        ok = rng.random() < (p.prepaid_success if prepaid else p.pod_acceptance)
        body = (f'"currency":"{country.currency}","order_id":{order_id},'
                f'"customer_id":{customer},"country":"{country.code}",'
                f'"fx_rate_usd":"{_FX[ci]}","total":"{_cents(total)}",'
                f'"items":[{",".join(parts)}]')
        key = str(order_id)
        occurred = self.clock.envelope(at)
        ids = self.ids
        self._emit(key, envelope_bytes(
            _uuid4(ids.getrandbits(128)), "order_placed", occurred,
            f'{body},"payment_mode":"{"prepaid" if prepaid else "pay_on_delivery"}"'))
        c = self.report_counts
        c["placed"] += 1
        if ok:
            self._emit(key, envelope_bytes(_uuid4(ids.getrandbits(128)), "order_confirmed",
                                           occurred,
                                           f'{body},"confirmed_at":"{self.clock.payload(at)}"'))
            c["confirmed"] += 1
            self._count(ci, lines, 1)
            if rng.random() < self.cancel_given_confirmed:
                due = i + rng.randint(1, 2 * ORDERS_PER_SECOND)  # within ~2 s of traffic
                heapq.heappush(self.pending, (due, order_id, body, at, key))
                self.pending_lines[order_id] = (ci, lines)
        else:
            reason = PAYMENT_FAILED if prepaid else POD_DECLINED
            self._emit(key, envelope_bytes(_uuid4(ids.getrandbits(128)), "order_cancelled",
                                           occurred,
                                           f'{body},"reason":"{reason}","confirmed_at":null'))
            c["cancelled_at_payment"] += 1

    def _cancel_later(self, at: int, order_id: int, body: str, confirmed_us: int,
                      key: str) -> None:
        ci, lines = self.pending_lines.pop(order_id)
        self._emit(key, envelope_bytes(
            _uuid4(self.ids.getrandbits(128)), "order_cancelled", self.clock.envelope(at),
            f'{body},"reason":"{CUSTOMER_REQUEST}",'
            f'"confirmed_at":"{self.clock.payload(confirmed_us)}"'))
        self.report_counts["cancelled_later"] += 1
        self._count(ci, lines, -1)

    def _emit_malformed(self) -> None:
        """One malformed message, of the next kind in turn; its order id is used by nothing else."""
        kind = MALFORMED_KINDS[self.malformed_kind % len(MALFORMED_KINDS)]
        self.malformed_kind += 1
        order_id = self.next_order
        self.next_order += 1
        at = min(self.start_us + self.index * self.step_us, self.now_us)
        good = (f'"currency":"USD","order_id":{order_id},"customer_id":1,"country":"US",'
                f'"fx_rate_usd":"1.000000","total":"1.00","items":[{{"line_no":1,'
                f'"variant_id":1,"product_id":1,"product_name":"x","material":"x",'
                f'"quantity":{{q}},"unit_price":"1.00","revenue":"1.00","revenue_usd":"1.00"}}],'
                f'"confirmed_at":"{self.clock.payload(at)}"')
        event_id = _uuid4(self.ids.getrandbits(128))
        occurred = self.clock.envelope(at)
        if kind == "not_json":
            value = b'{"event_id": "oops", this is not json'
        elif kind == "empty_value":
            value = b""
        elif kind == "missing_event_id":
            value = envelope_bytes(event_id, "order_confirmed", occurred,
                                   good.replace("{q}", "1"))
            value = value.replace(f'"event_id":"{event_id}",'.encode(), b"")
        elif kind == "negative_quantity":
            value = envelope_bytes(event_id, "order_confirmed", occurred,
                                   good.replace("{q}", "-2"))
        else:
            value = envelope_bytes(event_id, "order_teleported", occurred,
                                   good.replace("{q}", "1"))
        self.sink(str(order_id), value)
        self.report_counts["events"] += 1
        self.report_counts["malformed"] += 1

    def totals(self) -> dict[TotalKey, tuple[int, Decimal]]:
        out: dict[TotalKey, tuple[int, Decimal]] = {}
        n = len(self.qty[0])
        g_qty, g_cents, g_hits = [0] * n, [0] * n, [0] * n
        for ci, country in enumerate(COUNTRIES):
            qty, cents, hits = self.qty[ci], self.cents[ci], self.hits[ci]
            for v in range(1, n):
                if hits[v]:
                    out[(country.code, v)] = (qty[v], round_money(Decimal(cents[v]) / 100))
                    g_qty[v] += qty[v]
                    g_cents[v] += cents[v]
                    g_hits[v] += hits[v]
        for v in range(1, n):
            if g_hits[v]:
                out[(GLOBAL_SCOPE, v)] = (g_qty[v], round_money(Decimal(g_cents[v]) / 100))
        return out


def generate(sink: Sink, events: int, variants: int = 1000, malformed_share: float = 0.001,
             seed: int = 1, first_order_id: int = 1, now: datetime | None = None,
             topic: str = "") -> PreloadReport:
    """Hand at least ``events`` messages to ``sink`` (key, value); no Kafka (pure but for ids)."""
    if events < 1 or variants < 1 or not 0 <= malformed_share < 1:
        raise ValueError("need events >= 1, variants >= 1 and 0 <= malformed_share < 1")
    profile = ShopperProfile()
    confirm = (profile.prepaid_share * profile.prepaid_success
               + (1 - profile.prepaid_share) * profile.pod_acceptance)
    per_order = (2 + min(profile.cancel_share, confirm)) * (1 + malformed_share)
    now_us = int((now or datetime.now(UTC)).timestamp() * 1_000_000)
    gen = _Generator(sink, variants, malformed_share, seed, first_order_id,
                     int(events / per_order) + 1, now_us, profile)
    counts = gen.report_counts
    while counts["events"] < events:
        gen.order()
    return PreloadReport(topic=topic, orders=gen.index, first_order_id=first_order_id,
                         last_order_id=gen.next_order - 1, totals=gen.totals(), **counts)


def bulk_producer(settings: Settings, on_error: Callable[[object, object], None]) -> Producer:
    """The project's producer, tuned for bulk: long linger, big batches, a deep queue.

    Only failed deliveries are reported (to ``on_error``): a callback per message
    would cost more than building the message.
    """
    return Producer({
        **kafka_io.producer_config(settings),
        "delivery.report.only.error": True,
        "on_delivery": on_error,
        "linger.ms": 200,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
    })


def preload(settings: Settings, topic: str, events: int, variants: int = 1000,
            malformed_share: float = 0.001, seed: int = 1,
            first_order_id: int = 1) -> PreloadReport:
    """Write at least ``events`` messages to ``topic`` (created if missing) and flush.

    Returns once every message is acknowledged. Use a fresh topic, or a
    ``first_order_id`` past the orders already in it (the stream dedupes by
    (order_id, event_type)).
    """
    kafka_io.ensure_topics(settings, [topic])
    failed: list[str] = []

    def on_error(err: object, _msg: object) -> None:
        failed.append(str(err))

    producer = bulk_producer(settings, on_error)
    produce, poll = producer.produce, producer.poll
    sent = 0

    def sink(key: str, value: bytes) -> None:
        nonlocal sent
        try:
            produce(topic, value, key)
        except BufferError:
            while True:
                poll(0.05)
                try:
                    produce(topic, value, key)
                    break
                except BufferError:
                    continue
        sent += 1
        if not sent & 0x3FFF:
            poll(0)

    started = time.perf_counter()
    report = generate(sink, events, variants, malformed_share, seed, first_order_id,
                      topic=topic)
    left = producer.flush(120)
    if left:
        raise RuntimeError(f"{left} messages to {topic} not acknowledged after 120 s")
    if failed:
        raise RuntimeError(f"{len(failed)} messages to {topic} failed, first: {failed[0]}")
    report.seconds = time.perf_counter() - started
    return report
