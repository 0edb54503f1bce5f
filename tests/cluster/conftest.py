"""The local cluster (``topproducts cluster``) for the fault tests, and a shop of its own.

Run with ``make test-cluster``; the default ``make test`` selection never collects
these (``testpaths`` in pyproject.toml lists only unit and integration).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from topproducts import kafka_io
from topproducts import stream_control as stream_process
from topproducts.leaderboards.schema import drop_leaderboards
from topproducts.settings import Settings, get_settings
from topproducts.shop import schema as shop_schema
from topproducts.stack import cluster


@pytest.fixture(scope="session")
def nodes() -> Settings:
    """The cluster's settings, every node started and answering (a running one is reused)."""
    settings = cluster.client_settings(get_settings())
    cluster.up(settings)
    return settings


@pytest.fixture
def cluster_shop(nodes: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A shop of this test on the cluster: its own databases, topics, keyspace and state
    folder (the stream's pid file, log and checkpoints); all dropped afterwards. Its stream
    runs under spark-submit, on the app host."""
    name = "c" + uuid.uuid4().hex[:10]
    shop = nodes.replace(mysql_database_prefix=f"{name}_", kafka_topic_prefix=name,
                         cassandra_keyspace=name, state_dir=tmp_path,
                         stream_trigger_seconds=1.0, stream_launcher="spark-submit")
    try:
        yield shop
    finally:
        stream_process.stop(shop, timeout=60)
        drop_leaderboards(shop)
        shop_schema.drop_databases(shop)
        admin = kafka_io.admin(shop)
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{name}.")]
        for future in (admin.delete_topics(topics).values() if topics else []):
            future.result(timeout=30)
