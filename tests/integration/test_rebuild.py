"""Rebuild from history, and what losing the leaderboard keyspace does (issue 11).

- After orders with cancellations, ``rebuild`` (drop everything, recount Kafka's
  history with the stream's query in batch mode) gives boards equal to MySQL to the
  cent; the stream then resumes from where the rebuild ended, more orders flow, and
  every board still equals MySQL.
- The keyspace dropped while the stream runs: the stream notices, stops with one
  clear line, refuses to start on the orphaned checkpoint, and a rebuild recovers.
"""

from __future__ import annotations

import time

import pytest

from topproducts import reconcile
from topproducts import stream_control as process
from topproducts.errors import TopProductsError
from topproducts.leaderboards.schema import drop_leaderboards
from topproducts.rebuild import rebuild
from topproducts.settings import Settings
from topproducts.shop import seed, simulator

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(stream_shop: Settings) -> Settings:
    return stream_shop.replace(spark_ui_port=4085)


def assert_exact(settings: Settings) -> None:
    for kind in (reconcile.ALL_TIME, "windows"):
        report = reconcile.run(settings, kind, wait_seconds=300)
        assert report.consistent, report.summary()
        assert not report.mismatches, "\n".join(str(m) for m in report.mismatches[:10])
        assert report.compared > 0 and report.boards > 0


def test_rebuild_equals_mysql_and_the_stream_goes_on_from_it(shop: Settings) -> None:
    seed.seed(shop, customers=150, products=30, seed=5)
    # 2.5 s of orders: the simulator cancels orders at least a second old
    first = simulator.produce(shop, 250, seed=1, batch_size=50, rate=100)
    assert first.confirmed > 0 and first.cancelled_later > 0  # retractions to recount
    process.start(shop)
    assert_exact(shop)
    process.stop(shop)

    seen: list[tuple[int, int]] = []
    result = rebuild(shop, lambda done, total: seen.append((done, total)))
    assert result.events > 0 and seen[-1] == (result.events, result.events)
    assert process.running_pid(shop) is None  # the rebuild ran, and ended
    assert_exact(shop)

    process.start(shop)  # continues from the rebuild's checkpoint: counts nothing twice
    simulator.produce(shop, 150, seed=2, batch_size=50)
    assert_exact(shop)
    process.stop(shop)


def test_a_dropped_keyspace_stops_the_stream_with_a_clear_message(shop: Settings) -> None:
    seed.seed(shop, customers=100, products=20, seed=6)
    simulator.produce(shop, 100, seed=3, batch_size=50)
    process.start(shop)
    assert reconcile.run(shop, reconcile.ALL_TIME, wait_seconds=300).passed

    drop_leaderboards(shop)
    deadline = time.monotonic() + 120
    while process.running_pid(shop) is not None and time.monotonic() < deadline:
        time.sleep(1)
    assert process.running_pid(shop) is None, "the stream went on without its tables"
    log = process.log_file(shop).read_text()
    assert f"the leaderboard keyspace {shop.cassandra_keyspace} was dropped" in log
    assert "topproducts rebuild --yes" in log

    # a restart (what the Dagster sensor tries) refuses the orphaned checkpoint, saying why
    with pytest.raises(TopProductsError, match="rebuild"):
        process.start(shop, wait=60)

    simulator.produce(shop, 50, seed=4, batch_size=50)
    rebuild(shop)
    process.start(shop)
    assert_exact(shop)
    process.stop(shop)
