"""Reconciliation: the shop places orders (MySQL + outbox -> Kafka), the stream counts them,
and every leaderboard total equals a SQL query over MySQL's order lines (confirmed, not
cancelled), all-time and per sliding window."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streaming import process
from topproducts import cassandra_io, reconcile
from topproducts.leaderboards.schema import drop_keyspace
from topproducts.settings import Settings
from topproducts.shop import sandbox, seed, simulator

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(running_stack: Settings, unique: str, tmp_path) -> Iterator[Settings]:
    settings = sandbox.sandbox(running_stack, unique).replace(
        cassandra_keyspace=unique, state_dir=tmp_path, stream_trigger_seconds=1.0,
        spark_ui_port=4080)
    try:
        yield settings
    finally:
        process.stop(settings, timeout=60)
        session = cassandra_io.connect(settings)
        drop_keyspace(session, settings)
        session.cluster.shutdown()
        sandbox.drop(settings)


def test_every_leaderboard_total_equals_mysql(shop: Settings) -> None:
    seed.seed(shop, customers=200, products=40, seed=11)
    before = simulator.produce(shop, 300, seed=1, batch_size=100)
    process.start(shop)
    during = simulator.produce(shop, 200, seed=2, batch_size=50)  # while the stream runs
    assert before.confirmed + during.confirmed > 0
    for kind in (reconcile.ALL_TIME, "windows"):
        report = reconcile.run(shop, kind, wait_seconds=300)
        assert report.consistent, report.summary()
        assert not report.mismatches, "\n".join(str(m) for m in report.mismatches[:10])
        assert report.compared > 0
