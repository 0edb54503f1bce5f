"""The Spark transforms on a small local session (no Kafka, no Cassandra)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from streaming import transforms as t
from streaming.counting import Counter
from streaming.schema import canonical_pattern, topic_schema
from streaming.session import local_session
from streaming.sink import LeaderboardSink, recheck
from tests.support.reference import (
    InMemoryStore,
    assert_store_matches,
    expected_totals,
    synthetic_orders,
)
from topproducts.events import InvalidEvent, OrderCancelled, decode, encode, make_event
from topproducts.leaderboards.ranking import Geometry, Granularity, window_id

pytestmark = pytest.mark.spark  # a local Spark session: a JVM and the Maven jars

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


def test_screen_then_recheck_equals_the_full_parse(spark) -> None:
    # The stream plans only the canonical screen; the driver has Spark judge the rest by
    # every rule. Together they must give the very rows of the full parse, including
    # valid events in another JSON layout (counted) and every broken one (its reason).
    events = synthetic_orders(6, seed=12, start=T0, cancel_rate=0.5)
    other_layouts = [json.dumps(json.loads(encode(e)), indent=1).encode() for e in events]
    samples = ([encode(e) for e in events] + other_layouts + GOOD_EDGE_CASES
               + [v for v, _ in BAD])
    raw = kafka_df(spark, samples)
    screened = t.keyed_rows(t.screen(raw))
    table = screened.toArrow()
    assert table.column("reason").to_pylist().count(t.RECHECK) >= len(other_layouts) + len(BAD)
    got = recheck(screened, table).sort_by("offset").to_pylist()
    want = t.keyed_rows(t.parse(raw)).toArrow().to_pylist()
    assert len(got) == len(samples)
    assert sorted(map(repr, got)) == sorted(map(repr, want))
    counted = [r for r in got if r["key_kind"] == "order_confirmed"]
    assert len(counted) == 2 * sum(e.event_type.value == "order_confirmed" for e in events)
    assert t.RECHECK not in {r["reason"] for r in got}


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


# -- the canonical fast path ------------------------------------------------------


def canonical_flags(spark, values: list[bytes | None]) -> list:
    """Per message, by offset: ``reason``, the canonical regex alone (``rx``, Java regex via
    Spark ``rlike``) and the whole fast path (``fast``: the regex and the date-time casts)."""
    ts = topic_schema()
    value = F.col("value").cast("string")
    return (t.parse(kafka_df(spark, values))
            .select("offset", "reason", value.rlike(canonical_pattern(ts)).alias("rx"),
                    t.canonical(ts, F.col("e"), value).alias("fast"))
            .orderBy("offset").collect())


def unconfirmed_cancellation():
    """``order_cancelled`` of an order never confirmed, as the producer encodes it."""
    confirmed = synthetic_orders(1, seed=4, start=T0, cancel_rate=0)[1]
    p = confirmed.typed_payload()
    return make_event(OrderCancelled(**p.model_dump(exclude={"confirmed_at"}),
                                     reason="payment_failed", confirmed_at=None),
                      occurred_at=T0 + timedelta(minutes=1))


def test_canonical_fast_path_accepts_every_encoded_event(spark) -> None:
    events = synthetic_orders(40, seed=13, start=T0, cancel_rate=0.3)
    events.append(unconfirmed_cancellation())
    assert {e.event_type.value for e in events} == {
        "order_placed", "order_confirmed", "order_cancelled"}
    rows = canonical_flags(spark, [encode(e) for e in events])
    assert len(rows) == len(events)
    for event, r in zip(events, rows, strict=True):
        assert r["reason"] is None, (event.event_type, r["reason"])
        assert r["rx"] is True, encode(event)


def test_every_encoded_event_takes_the_whole_fast_path(spark) -> None:
    events = synthetic_orders(5, seed=13, start=T0, cancel_rate=0.5)
    events.append(unconfirmed_cancellation())
    rows = canonical_flags(spark, [encode(e) for e in events])
    assert [(e.event_type.value, r["fast"]) for e, r in zip(events, rows, strict=True)] == [
        (e.event_type.value, True) for e in events]


def compact(value: bytes | None) -> bytes | None:
    """A JSON object re-serialized in the producer's layout (no spaces, same key order)."""
    try:
        doc = json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_mutation(change) -> bytes:
    return compact(mutate(change))  # type: ignore[return-value]


# Canonical layout, values the regex cannot judge: only the date-time casts reject them.
CALENDAR_ERRORS = [
    canonical_mutation(set_payload("confirmed_at", "2026-02-30T08:00:00Z")),
    canonical_mutation(lambda d: d.__setitem__("occurred_at", "2026-11-25T25:00:00.000000Z")),
]
# Canonical layout, valid: escapes and non-ASCII in strings, other zones, big numbers.
CANONICAL_EDGE_CASES = [
    canonical_mutation(set_item("product_name", 'A "quoted" \\ name')),
    canonical_mutation(set_item("product_name", "Café Ø")),
    canonical_mutation(set_payload("confirmed_at", "2026-11-25T08:00:00+05:30")),
    canonical_mutation(set_payload("confirmed_at", "2026-11-25T08:00:00.123456789Z")),
    canonical_mutation(set_payload("order_id", -5)),
    canonical_mutation(set_item("quantity", 10**17)),
]


def test_fast_path_match_implies_pydantic_accepts(spark) -> None:
    # Every rejected and edge-case message, as written and in the canonical layout (the
    # layout is what the regex keys on: a bad value there must still fail the fast path).
    listed = [v for v, _ in BAD] + GOOD_EDGE_CASES
    listed += [c for c in map(compact, listed) if c is not None]
    others = CALENDAR_ERRORS + CANONICAL_EDGE_CASES + [compact(encode(unconfirmed_cancellation()))]
    samples = listed + others
    rows = canonical_flags(spark, samples)
    for i, (value, r) in enumerate(zip(samples, rows, strict=True)):
        try:
            decode(value)
            accepted = True
        except InvalidEvent:
            accepted = False
        if r["fast"]:
            assert accepted and r["reason"] is None, value
        if i < len(listed) and r["rx"]:
            assert accepted, value
    assert any(r["fast"] for r in rows)  # not vacuous: the canonical valid ones take it
    # The regex accepts impossible dates; the casts of the fast path reject them.
    for r in rows[len(listed):len(listed) + len(CALENDAR_ERRORS)]:
        assert (r["rx"], r["fast"]) == (True, False) and r["reason"] is not None


# -- parse -> keyed_rows -> the sink (ledger, counting), on one batch --------------------

TOP_N = 10
GEOMETRY = Geometry.parse("1 hour", "5 minutes", "10 minutes")


def test_sink_totals_and_boards_equal_the_python_reference_exactly(spark) -> None:
    events = synthetic_orders(60, seed=21, start=T0, step=timedelta(minutes=1), cancel_rate=0.25)
    duplicated = events + events[:15]  # the outbox relay re-published some
    values = [encode(e) for e in duplicated] + [b"not json", None]
    table = t.keyed_rows(t.parse(kafka_df(spark, values))).toArrow()
    store = InMemoryStore(GEOMETRY)
    sink = LeaderboardSink(store, Counter(GEOMETRY, TOP_N), "q")
    counts = sink.process(table, 0)
    sink.flush()

    expected = expected_totals(events, timedelta(hours=1), timedelta(minutes=5))
    counted = [e for e in events if e.event_type.value != "order_placed"]
    assert counts["events"] == len(counted) and counts["late"] == 0 and counts["dead"] == 2
    assert_store_matches(store, expected, TOP_N)  # every total and board, and no other board
    # no all-time total the reference does not have
    assert {(s, "all") for s, period, _, _ in store.rows if period is None} == {
        k for k in expected if k[1] == "all"}
    # scopes: every country seen, plus GLOBAL; revenue stays Decimal with cents
    assert {k[0] for k in expected} >= {"GLOBAL"} and len({k[0] for k in expected}) > 2
    for item in store.totals("GLOBAL", "all", Granularity.PRODUCT):
        assert isinstance(item.revenue_usd, Decimal) and item.revenue_usd.as_tuple().exponent == -2
    assert ("GLOBAL", window_id(datetime(2026, 11, 25, 7, 5, tzinfo=UTC))) in expected
    assert sorted(d.reason for d in store.dead.values()) == ["empty message value",
                                                             "not a JSON object"]
