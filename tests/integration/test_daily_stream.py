"""The batch path against the streaming path: today's daily totals (MySQL) equal the real
Spark stream's panes over the same span, cancellations included.

Panes of 10 seconds (the sandbox's window slide) so that a test does not wait 5 minutes for
a pane to close: the day counts up to the last pane boundary, the stream's panes up to it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.support.sandbox import streaming_sandbox
from topproducts import daily
from topproducts.leaderboards.store import open_store
from topproducts.settings import Settings
from topproducts.shop import simulator

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Settings]:
    with streaming_sandbox(running_stack, tmp_path_factory.mktemp("daily-stream"), 40, 12,
                           window_slide="10 seconds", window_duration="1 minute") as s:
        yield s


def test_today_equals_the_streams_panes(live: Settings) -> None:
    first = simulator.produce(live, 200, seed=1)
    time.sleep(11)  # the next pane: the first orders are now in a closed one
    second = simulator.produce(live, 200, seed=2)  # also cancels some of the first
    assert first.confirmed and second.cancelled_later
    today = datetime.now(UTC).date()
    deadline = time.monotonic() + 180
    with open_store(live) as store:
        while True:
            report = daily.build_day(live, store, today)
            outcome = daily.check_against_stream(live, store, today)
            if outcome.metadata.get("compared") or time.monotonic() > deadline:
                break
            time.sleep(2)  # the stream has not caught up yet: build and compare again
    assert outcome.metadata.get("compared"), outcome
    assert outcome.passed, outcome
    assert report.units > 0 and not report.span.final
    assert outcome.metadata["until"] == report.span.until.isoformat()
