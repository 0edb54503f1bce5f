"""The Spark transforms on a small local session (no Kafka, no Cassandra)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from streaming import transforms as t
from streaming.reference import expected_totals, synthetic_orders
from streaming.session import local_session
from streaming.sink import total_row
from topproducts.events import InvalidEvent, decode, encode
from topproducts.leaderboards.ranking import window_id

KAFKA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def spark():
    return local_session()


def kafka_df(spark, values: list[bytes | None]):
    rows = [(b"k", v, "shop.orders", 0, i, T0.replace(tzinfo=None)) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA)


def good() -> dict:
    confirmed = synthetic_orders(1, seed=3, start=T0)[1]
    return json.loads(encode(confirmed))


def mutate(change) -> bytes:
    doc = good()
    change(doc)
    return json.dumps(doc).encode()


def set_item(field: str, value):
    return lambda d: d["payload"]["items"][0].__setitem__(field, value)


def set_payload(field: str, value):
    return lambda d: d["payload"].__setitem__(field, value)


BAD: list[tuple[bytes | None, str]] = [
    (None, "empty message value"),
    (b"  ", "empty message value"),
    (b"not json", "not a JSON object"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"event_id": ', "malformed JSON"),
    (mutate(lambda d: d.pop("event_type")), "event_type: missing"),
    (mutate(lambda d: d.__setitem__("event_type", "order_teleported")),
     "event_type: unknown event type 'order_teleported'"),
    (mutate(lambda d: d.__setitem__("event_type", "payment_recorded")),
     "event_type: 'payment_recorded' does not belong on topic orders"),
    (mutate(lambda d: d.__setitem__("schema_version", 2)), "schema_version: unexpected value '2'"),
    (mutate(lambda d: d.__setitem__("event_id", "nope")), "event_id: not a UUID"),
    (mutate(lambda d: d.__setitem__("occurred_at", "yesterday")),
     "occurred_at: not an ISO-8601 date-time with a time zone"),
    (mutate(lambda d: d.__setitem__("payload", "x")), "payload: missing or not an object"),
    (mutate(set_payload("currency", "EUR")), "payload.currency: unexpected value 'EUR'"),
    (mutate(set_payload("country", "FR")), "payload.country: unexpected value 'FR'"),
    (mutate(set_payload("order_id", "12a")), "payload.order_id: not an integer"),
    (mutate(lambda d: d["payload"].pop("confirmed_at")), "payload.confirmed_at: missing"),
    (mutate(set_payload("confirmed_at", "2026-11-25T08:00:00")),
     "payload.confirmed_at: not an ISO-8601 date-time with a time zone"),
    (mutate(set_payload("items", [])), "payload.items: needs at least 1 element(s)"),
    (mutate(set_payload("items", 5)), "payload.items: missing or not an array"),
    (mutate(set_item("quantity", 0)), "payload.items[].quantity: must be >= 1"),
    (mutate(set_item("quantity", -2)), "payload.items[].quantity: must be >= 1"),
    (mutate(set_item("quantity", "lots")), "payload.items[].quantity: not an integer"),
    (mutate(set_item("quantity", 1.5)), "payload.items[].quantity: not an integer"),
    (mutate(set_item("revenue_usd", "12.3.4")),
     "payload.items[].revenue_usd: not a decimal number"),
    (mutate(set_item("revenue_usd", "1.005")),
     "payload.items[].revenue_usd: more than 16 digits before or 2 after the decimal point"),
    (mutate(set_item("revenue_usd", "-1.00")), "payload.items[].revenue_usd: must be >= 0"),
    (mutate(set_item("product_name", "")), "payload.items[].product_name: shorter than 1"
     " character(s)"),
    (mutate(lambda d: d["payload"]["items"][0].pop("variant_id")),
     "payload.items[].variant_id: missing"),
]


def test_each_bad_message_gets_its_specific_reason(spark) -> None:
    rows = t.dead_letters(t.parse(kafka_df(spark, [v for v, _ in BAD]))).orderBy("offset")
    got = [(r["offset"], r["reason"]) for r in rows.collect()]
    assert got == [(i, reason) for i, (_, reason) in enumerate(BAD)]


def cancelled_unconfirmed(doc: dict) -> None:
    """A failed payment: ``order_cancelled`` with ``confirmed_at`` null (nothing to retract)."""
    doc["event_type"] = "order_cancelled"
    doc["payload"].update(reason="payment_failed", confirmed_at=None)


GOOD_EDGE_CASES = [
    mutate(cancelled_unconfirmed),
    mutate(lambda d: (cancelled_unconfirmed(d), d["payload"].pop("confirmed_at"))),
]


def test_valid_edge_cases_are_not_dead_lettered(spark) -> None:
    rows = t.dead_letters(t.parse(kafka_df(spark, GOOD_EDGE_CASES))).collect()
    assert rows == []


def test_stream_rejects_what_the_pydantic_models_reject(spark) -> None:
    # The schema is written once: decode() and the stream agree on every sample.
    samples = [v for v, _ in BAD] + GOOD_EDGE_CASES + [
        encode(e) for e in synthetic_orders(20, seed=5, start=T0)]
    reasons = [r["reason"] for r in t.parse(kafka_df(spark, samples)).orderBy("offset")
               .select("reason").collect()]
    for value, reason in zip(samples, reasons, strict=True):
        try:
            decode(value)
            accepted = True
        except InvalidEvent:
            accepted = False
        assert accepted == (reason is None), (value, reason)


def test_valid_events_are_typed_and_counted_by_the_rule(spark) -> None:
    events = synthetic_orders(30, seed=11, start=T0, cancel_rate=0.3)
    df = t.valid_events(t.parse(kafka_df(spark, [encode(e) for e in events])))
    assert df.count() == len(events)
    counting = t.counting_events(df).collect()
    confirmed = sum(e.event_type.value == "order_confirmed" for e in events)
    cancelled = sum(e.event_type.value == "order_cancelled" for e in events)
    assert cancelled > 0
    assert sorted(r["sign"] for r in counting) == [-1] * cancelled + [1] * confirmed
    assert all(r["event_time"] is not None for r in counting)


def test_cancellation_without_confirmation_retracts_nothing(spark) -> None:
    placed, confirmed = synthetic_orders(1, seed=2, start=T0, cancel_rate=0)
    doc = json.loads(encode(confirmed))
    doc["event_type"] = "order_cancelled"
    doc["payload"]["reason"] = "changed my mind"
    del doc["payload"]["confirmed_at"]
    values = [encode(placed), json.dumps(doc).encode()]
    assert t.counting_events(t.valid_events(t.parse(kafka_df(spark, values)))).count() == 0


def totals_by_key(rows) -> dict:
    out: dict = {}
    for r in rows:
        tr = total_row(r)
        out.setdefault((tr.scope, tr.window.id), {})[tr.item.variant_id] = tr.item
    return out


def test_totals_equal_the_python_reference_exactly(spark) -> None:
    events = synthetic_orders(60, seed=21, start=T0, step=timedelta(minutes=1), cancel_rate=0.25)
    duplicated = events + events[:15]  # the outbox relay re-published some
    counting = t.counting_events(t.valid_events(t.parse(
        kafka_df(spark, [encode(e) for e in duplicated]))))
    all_time = totals_by_key(t.all_time_totals(t.item_rows(t.dedupe_all_time(counting)))
                             .collect())
    windows = totals_by_key(t.window_totals(
        t.item_rows(t.dedupe_windowed(counting, "10 minutes")), "1 hour", "5 minutes").collect())
    expected = expected_totals(events, timedelta(hours=1), timedelta(minutes=5))
    assert all_time == {k: v for k, v in expected.items() if k[1] == "all"}
    assert windows == {k: v for k, v in expected.items() if k[1] != "all"}
    # scopes: every country seen, plus GLOBAL; revenue stays Decimal with cents
    assert {k[0] for k in all_time} >= {"GLOBAL"}
    some = next(iter(all_time[("GLOBAL", "all")].values()))
    assert isinstance(some.revenue_usd, Decimal) and some.revenue_usd.as_tuple().exponent == -2
    assert ("GLOBAL", window_id(datetime(2026, 11, 25, 7, 5, tzinfo=UTC))) in windows
