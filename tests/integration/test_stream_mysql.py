"""Reconciliation: the shop places orders (MySQL + outbox -> Kafka), the stream counts them,
and every leaderboard total equals a SQL query over MySQL's order lines (confirmed, not
cancelled), all-time and per sliding window."""

from __future__ import annotations

import pytest

from topproducts import reconcile
from topproducts import stream_control as process
from topproducts.settings import Settings
from topproducts.shop import seed, simulator

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(stream_shop: Settings) -> Settings:
    return stream_shop.replace(spark_ui_port=4080)


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
