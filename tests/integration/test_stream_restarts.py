"""Exact through restarts of the broker and of Cassandra (design §12).

The shop places orders while the stream runs; Kafka is restarted, then Cassandra is
stopped while orders keep coming (the stream's writes fail and the job exits, as a
crash would), Cassandra comes back and the stream is restarted from its checkpoints,
as the Dagster sensor would. Every total still equals MySQL, all-time and per window.

This module restarts the shared services, so it runs last among the integration tests
(files run in name order) and leaves them running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from topproducts import reconcile, stack
from topproducts import stream_control as process
from topproducts.settings import Settings
from topproducts.shop import seed, simulator

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI = str(Path(sys.executable).parent / "topproducts")


@pytest.fixture
def shop(running_stack: Settings, stream_shop: Settings) -> Iterator[Settings]:
    try:
        yield stream_shop.replace(spark_ui_port=4090)
    finally:
        stack.up(running_stack)  # whatever happened, leave the stack running (before teardown)


def wait_for_exit(settings: Settings, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.running_pid(settings) is None:
            return True
        time.sleep(1)
    return False


def status_code(settings: Settings) -> int:
    """``topproducts stream status``'s exit code, as a script or service manager sees it."""
    return subprocess.run([CLI, "stream", "status"], env={**os.environ, **settings.to_env()},
                          capture_output=True, timeout=120, check=False).returncode


def assert_exact(settings: Settings) -> None:
    for kind in (reconcile.ALL_TIME, "windows"):
        report = reconcile.run(settings, kind, wait_seconds=300)
        assert report.consistent, report.summary()
        assert not report.mismatches, "\n".join(str(m) for m in report.mismatches[:10])
        assert report.compared > 0


def test_exact_after_kafka_and_cassandra_restarts(running_stack: Settings, shop: Settings
                                                  ) -> None:
    seed.seed(shop, customers=150, products=40, seed=21)
    simulator.produce(shop, 300, seed=1, batch_size=100)
    assert status_code(shop) == 3  # not running: LSB's code, as service managers answer
    process.start(shop)
    assert status_code(shop) == 0

    # The broker goes away and comes back while the stream reads.
    assert stack.down(running_stack, ["kafka"]) == ["kafka"]
    time.sleep(3)
    stack.up(running_stack, ["kafka"])
    simulator.produce(shop, 200, seed=2, batch_size=50)
    assert_exact(shop)
    assert process.running_pid(shop) is not None, "the stream should ride out a broker restart"

    # Cassandra goes away while orders keep coming: the stream cannot write and exits.
    assert stack.down(running_stack, ["cassandra"]) == ["cassandra"]
    simulator.produce(shop, 200, seed=3, batch_size=50)
    exited = wait_for_exit(shop, timeout=180)
    stack.up(running_stack, ["cassandra"])
    if exited:
        assert status_code(shop) == 3
        # what the Dagster sensor does for a dead stream
        process.start(shop)
    simulator.produce(shop, 100, seed=4, batch_size=50)
    assert_exact(shop)
