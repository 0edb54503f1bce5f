"""The benchmark's fast event templates write exactly what the schema's encoder writes."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bench.drain_data import MALFORMED_KINDS, _Clock, _uuid4, generate, variant_info
from tests.support.reference import expected_totals
from topproducts.events import (
    PAYLOADS,
    EventType,
    InvalidEvent,
    decode,
    encode,
    make_event,
)

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def generated():
    messages: list[tuple[str, bytes]] = []
    report = generate(lambda k, v: messages.append((k, v)), 20_000, variants=300,
                      malformed_share=0.01, seed=5, first_order_id=1000, now=NOW)
    return report, messages


def test_valid_messages_are_byte_equal_to_encode(generated) -> None:
    _report, messages = generated
    for key, value in messages:
        try:
            event = decode(value)
        except InvalidEvent:
            continue
        assert encode(event) == value
        assert event.key == key
        # rebuilt from typed models, as the shop's producer would
        rebuilt = make_event(PAYLOADS[event.event_type](**event.typed_payload().__dict__),
                             occurred_at=event.occurred_at, event_id=event.event_id)
        assert encode(rebuilt) == value


def test_malformed_messages_are_rejected_and_counted(generated) -> None:
    report, messages = generated
    reasons: Counter[str] = Counter()
    for _key, value in messages:
        try:
            decode(value)
        except InvalidEvent as exc:
            reasons[exc.reason.split(":")[0]] += 1
    assert sum(reasons.values()) == report.malformed > 0
    assert set(reasons) == {"value", "event_id", "payload.items.0.quantity", "event_type"}
    assert len(MALFORMED_KINDS) == 5  # not JSON and empty value both report "value"


def test_totals_and_counts_follow_the_reference_rule(generated) -> None:
    report, messages = generated
    events = []
    for _key, value in messages:
        try:
            events.append(decode(value))
        except InvalidEvent:
            continue
    assert report.events == len(messages) >= 20_000
    assert report.valid_events == len(events)
    kinds = Counter(e.event_type for e in events)
    retractions = sum(1 for e in events if e.event_type is EventType.ORDER_CANCELLED
                      and e.payload["confirmed_at"] is not None)
    assert kinds[EventType.ORDER_PLACED] == report.placed == report.orders
    assert kinds[EventType.ORDER_CONFIRMED] == report.confirmed
    assert retractions == report.cancelled_later
    assert kinds[EventType.ORDER_CANCELLED] == report.cancelled_later + report.cancelled_at_payment
    assert 0.02 < report.cancelled_later / report.placed < 0.04
    expected = {(scope, v): (t.quantity, t.revenue_usd)
                for (scope, _window), items in expected_totals(events).items()
                for v, t in items.items()}
    assert report.totals == expected


def test_event_times_are_recent_live_traffic(generated) -> None:
    report, messages = generated
    times = [decode(v).occurred_at for _k, v in messages[:: 97] if _is_valid(v)]
    assert max(times) <= NOW
    assert min(times) >= NOW - timedelta(seconds=report.orders / 1000 + 1)


def _is_valid(value: bytes) -> bool:
    try:
        decode(value)
    except InvalidEvent:
        return False
    return True


def test_clock_and_ids_match_the_encoder() -> None:
    clock = _Clock()
    for micro in (0, 120, 123000, 999999):
        at = NOW.replace(microsecond=micro)
        us = int(at.timestamp()) * 1_000_000 + micro
        assert clock.payload(us) == at.isoformat().replace("+00:00", "Z")
        assert clock.envelope(us) == at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for bits in (0, (1 << 128) - 1, 0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0):
        assert _uuid4(bits) == str(uuid.UUID(int=bits, version=4))


def test_catalogue_is_stable_per_id() -> None:
    a, b = variant_info(42), variant_info(43)
    assert a.product_id == b.product_id == 42 // 3 + 1
    assert a.product_name == b.product_name and a.material != b.material
    assert variant_info.__wrapped__(42) == a
