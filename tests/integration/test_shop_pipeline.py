"""The shop against the real MariaDB and Kafka: seed, produce, and MySQL == Kafka.

Each test owns a sandbox (tests/support/sandbox.py): its own databases, topics, keyspace.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from contextlib import ExitStack
from datetime import UTC

import pytest
from confluent_kafka import TopicPartition

from tests.support import sandbox as support
from topproducts import db, kafka_io
from topproducts.events import Envelope, Topic, decode
from topproducts.settings import Settings
from topproducts.shop import outbox, seed, simulator
from topproducts.shop.errors import OutOfStock, UnknownCustomer
from topproducts.shop.lifecycle import CONFIRMED
from topproducts.shop.model import LineRequest, OrderRequest
from topproducts.shop.placing import place_order
from topproducts.shop.schema import Tables

pytestmark = pytest.mark.integration

SEED = 11


@pytest.fixture
def shop(sandbox: Settings) -> Settings:
    """The test's sandbox (tests/conftest.py) is its shop."""
    return sandbox


def read_topics(settings: Settings) -> list[Envelope]:
    """Every event in the shop's topics, from the beginning to the current end."""
    consumer = kafka_io.consumer(f"{settings.kafka_topic_prefix}-check", settings)
    try:
        partitions = []
        for topic in Topic:
            name = settings.topic(topic.value)
            meta = consumer.list_topics(name, timeout=10).topics[name]
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
                if high > low:
                    partitions.append((TopicPartition(name, p, low), high))
        consumer.assign([tp for tp, _ in partitions])
        remaining = {(tp.topic, tp.partition): high for tp, high in partitions}
        events = []
        while remaining:
            msg = consumer.poll(10)
            assert msg is not None, f"timed out with {remaining} left"
            assert msg.error() is None, msg.error()
            event = decode(msg.value())
            assert event.key == msg.key().decode()
            assert settings.topic(event.topic.value) == msg.topic()
            events.append(event)
            if msg.offset() + 1 >= remaining.get((msg.topic(), msg.partition()), 0):
                remaining.pop((msg.topic(), msg.partition()), None)
        return events
    finally:
        consumer.close()


def query(settings: Settings, sql: str, args: tuple = ()) -> list[tuple]:
    with db.transaction(settings) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def test_seed_is_deterministic_idempotent_and_grows_by_the_difference(shop: Settings) -> None:
    first = seed.seed(shop, customers=200, products=40, seed=SEED)
    assert first.rows["customers"] == 200 and first.rows["products"] == 40
    assert first.rows["fx_rates"] == 5 and first.rows["countries"] == 5
    assert first.events == 200

    again = seed.seed(shop, customers=200, products=40, seed=SEED)
    assert again.total_rows == 0 and again.events == 0

    bigger = seed.seed(shop, customers=230, products=45, seed=SEED)
    assert bigger.rows["customers"] == 30 and bigger.rows["products"] == 5
    assert bigger.rows.get("sellers", 0) == 0

    t = Tables.of(shop)
    rows = query(shop, f"SELECT customer_id, first_name, last_name, email, street, city, state, "
                       f"postal_code, country_code FROM {t.customers} WHERE customer_id IN "
                       f"(1, 77, 230) ORDER BY customer_id")
    for row in rows:
        c = seed.make_customer(SEED, row[0])
        assert row == (c.customer_id, c.first_name, c.last_name, c.email, c.street, c.city,
                       c.state, c.postal_code, c.country_code)
    variants = query(shop, f"SELECT variant_id, price_usd, stock FROM {t.variants} "
                           f"WHERE product_id = 45 ORDER BY variant_id")
    expected = seed.make_product(SEED, 45).variants
    assert variants == [(v.variant_id, v.price_usd, v.stock) for v in expected]


def test_every_order_in_mysql_has_exactly_its_events_in_kafka(shop: Settings) -> None:
    seed.seed(shop, customers=300, products=60, seed=SEED)
    outbox.publish_pending(shop)
    t = Tables.of(shop)
    initial_stock = dict(query(shop, f"SELECT variant_id, stock FROM {t.variants}"))
    # cancels orders from 10 ms old (the default waits a second: this shop is younger)
    no_restock = simulator.ShopperProfile(restock_below=0, cancel_share=0.1,
                                          cancel_delay_min=0.01)
    first = simulator.produce(shop, 400, seed=1, batch_size=100, profile=no_restock)
    second = simulator.produce(shop, 300, seed=2, batch_size=100, profile=no_restock)
    assert first.orders == 400 and second.orders == 300
    assert second.cancelled_later > 0 and second.shipment_steps > 0

    # The outbox is drained, and Kafka holds exactly the outbox's events.
    assert query(shop, f"SELECT COUNT(*) FROM {t.outbox} WHERE id > "
                       f"(SELECT published_through FROM {t.outbox_relay})") == [(0,)]
    events = read_topics(shop)
    ids = Counter(str(e.event_id) for e in events)
    assert not [i for i, n in ids.items() if n > 1], "no duplicates without a relay crash"
    assert set(ids) == {row[0] for row in query(shop, f"SELECT event_id FROM {t.outbox}")}

    # Customers: one customer_created per customer.
    created = sorted(e.payload["customer_id"] for e in events
                     if e.event_type == "customer_created")
    assert created == list(range(1, 301))

    # Orders: what MySQL says happened == the events of that order, and nothing else.
    by_order: dict[int, list[Envelope]] = defaultdict(list)
    for e in events:
        if "order_id" in e.payload:
            by_order[e.payload["order_id"]].append(e)
    mysql_orders = query(shop, f"SELECT o.order_id, o.customer_id, o.currency, o.total, "
                               f"o.confirmed_at, o.cancelled_at, p.mode, p.status "
                               f"FROM {t.orders} o JOIN {t.payments} p USING (order_id)")
    assert len(mysql_orders) == 700
    assert set(by_order) == {row[0] for row in mysql_orders}
    items = defaultdict(list)
    for order_id, variant_id, qty, revenue, revenue_usd in query(
            shop, f"SELECT order_id, variant_id, quantity, revenue, revenue_usd "
                  f"FROM {t.order_items} ORDER BY order_id, line_no"):
        items[order_id].append((variant_id, qty, revenue, revenue_usd))
    shipments = defaultdict(list)
    for order_id, status in query(
            shop, f"SELECT s.order_id, h.status FROM {t.shipment_status_history} h "
                  f"JOIN {t.shipments} s USING (shipment_id) ORDER BY h.id"):
        shipments[order_id].append(status)

    for order_id, customer_id, currency, total, confirmed_at, cancelled_at, mode, pay in (
            mysql_orders):
        mine = by_order[order_id]
        kinds = Counter(e.event_type.value for e in mine)
        assert kinds["order_placed"] == 1
        assert kinds["order_confirmed"] == (confirmed_at is not None)
        assert kinds["order_cancelled"] == (cancelled_at is not None)
        assert kinds["payment_recorded"] == 1 + (mode == "pay_on_delivery" and pay == "paid")
        assert [e.payload["status"] for e in mine if e.event_type == "shipment_updated"] == (
            shipments[order_id])
        for e in mine:
            if e.event_type in ("order_placed", "order_confirmed", "order_cancelled"):
                p = e.payload
                assert (p["customer_id"], p["currency"], p["total"]) == (
                    customer_id, currency, str(total))
                assert [(i["variant_id"], i["quantity"], i["revenue"], i["revenue_usd"])
                        for i in p["items"]] == [
                    (v, q, str(r), str(ru)) for v, q, r, ru in items[order_id]]
            if e.event_type == "order_cancelled":
                expected = confirmed_at.replace(tzinfo=UTC) if confirmed_at else None
                got = e.typed_payload().confirmed_at
                assert got == expected
        # one order's events keep their order (same key, same partition)
        order_topic = [e.event_type.value for e in mine if e.topic == Topic.ORDERS]
        assert order_topic[0] == "order_placed"

    # Stock: nothing restocked, so what is left = initial - units of orders that still count.
    sold = Counter()
    for (variant_id, qty) in query(
            shop, f"SELECT i.variant_id, i.quantity FROM {t.order_items} i JOIN {t.orders} o "
                  f"USING (order_id) WHERE o.confirmed_at IS NOT NULL "
                  f"AND o.cancelled_at IS NULL"):
        sold[variant_id] += qty
    stock = dict(query(shop, f"SELECT variant_id, stock FROM {t.variants}"))
    assert all(stock[v] == initial_stock[v] - sold[v] for v in stock)


def test_out_of_stock_writes_nothing(shop: Settings) -> None:
    seed.seed(shop, customers=5, products=3, seed=SEED)
    t = Tables.of(shop)
    (variant_id,) = query(shop, f"SELECT variant_id FROM {t.variants} LIMIT 1")[0]
    query(shop, f"UPDATE {t.variants} SET stock = 2 WHERE variant_id = %s", (variant_id,))
    before = query(shop, f"SELECT COUNT(*) FROM {t.outbox}")
    request = OrderRequest(1, (LineRequest(variant_id, 3),))
    with pytest.raises(OutOfStock) as raised:
        place_order(request, shop)
    assert (raised.value.variant_id, raised.value.available) == (variant_id, 2)
    assert query(shop, f"SELECT COUNT(*) FROM {t.orders}") == [(0,)]
    assert query(shop, f"SELECT COUNT(*) FROM {t.outbox}") == before
    with pytest.raises(UnknownCustomer):
        place_order(OrderRequest(999, (LineRequest(variant_id, 1),)), shop)

    placed = place_order(OrderRequest(1, (LineRequest(variant_id, 2),)),
                                shop)
    assert placed.status == CONFIRMED and placed.events == 4
    assert query(shop, f"SELECT stock FROM {t.variants} WHERE variant_id = %s",
                 (variant_id,)) == [(0,)]


def test_relay_crash_after_delivery_republishes_with_the_same_event_ids(shop: Settings,
                                                                       monkeypatch) -> None:
    seed.seed(shop, customers=20, products=10, seed=SEED)
    kafka_io.ensure_topics(shop)

    def crash(self, through):
        raise RuntimeError("relay killed before moving its position")

    with monkeypatch.context() as m:
        m.setattr(outbox.Relay, "_advance", crash)
        with pytest.raises(RuntimeError), outbox.Relay(shop) as relay:
            relay.publish_pending()
    again = outbox.publish_pending(shop)  # the next relay publishes everything again
    assert again.events == 20
    events = read_topics(shop)
    assert len(events) == 40
    assert len({e.event_id for e in events}) == 20  # the stream dedupes by event_id


def test_same_seed_and_state_give_the_same_orders(running_stack: Settings, unique: str) -> None:
    with ExitStack() as stack:
        shops = [stack.enter_context(support.sandbox(running_stack, f"{unique}{i}"))
                 for i in (1, 2)]
        snapshots = []
        for s in shops:
            seed.seed(s, customers=50, products=20, seed=SEED)
            simulator.produce(s, 150, seed=5, batch_size=50)
            t = Tables.of(s)
            snapshots.append((
                query(s, f"SELECT order_id, customer_id, currency, status, total, payment_mode "
                         f"FROM {t.orders} ORDER BY order_id"),
                query(s, f"SELECT order_id, line_no, variant_id, quantity, line_total "
                         f"FROM {t.order_items} ORDER BY order_id, line_no"),
                query(s, f"SELECT variant_id, stock FROM {t.variants} ORDER BY variant_id"),
            ))
        assert snapshots[0] == snapshots[1]
