"""Cassandra sessions configured from settings."""

from __future__ import annotations

from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.policies import DCAwareRoundRobinPolicy

from topproducts.errors import StackError
from topproducts.settings import Settings, get_settings


def connect(settings: Settings | None = None, keyspace: str | None = None) -> Session:
    """A session on the local node; the caller closes ``session.cluster`` when done."""
    s = settings or get_settings()
    profile = ExecutionProfile(
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc="datacenter1"),
        request_timeout=20,
    )
    cluster = Cluster([s.cassandra_host], port=s.cassandra_port, connect_timeout=5,
                      protocol_version=5, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    try:
        return cluster.connect(keyspace)
    except NoHostAvailable as exc:
        cluster.shutdown()
        reason = next(iter(exc.errors.values()), exc)
        raise StackError(f"Cassandra at {s.cassandra_host}:{s.cassandra_port}: {reason}") from None
