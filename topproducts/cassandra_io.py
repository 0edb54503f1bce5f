"""Cassandra sessions configured from settings."""

from __future__ import annotations

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.policies import (
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    NoSpeculativeExecutionPolicy,
)

from topproducts.errors import ConfigError, StackError
from topproducts.settings import Settings, get_settings


def consistency(settings: Settings) -> int:
    """The driver's level for ``cassandra_consistency`` (a name such as LOCAL_QUORUM)."""
    try:
        return ConsistencyLevel.name_to_value[settings.cassandra_consistency.upper()]
    except KeyError:
        raise ConfigError(
            f"TOPPRODUCTS_CASSANDRA_CONSISTENCY={settings.cassandra_consistency!r} is not a "
            f"consistency level; known: {', '.join(ConsistencyLevel.name_to_value)}") from None


def connect(settings: Settings | None = None, keyspace: str | None = None) -> Session:
    """A session on the configured nodes; the caller closes ``session.cluster`` when done."""
    s = settings or get_settings()
    delay = s.cassandra_speculative_seconds
    profile = ExecutionProfile(
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=s.cassandra_local_dc),
        request_timeout=20,
        consistency_level=consistency(s),
        # An idempotent request (the store's) unanswered after `delay` goes to the next
        # node too, the first answer wins: a node cut off from the network (no reset, no
        # error, only silence) costs `delay`, not the request timeout and a failed batch.
        speculative_execution_policy=(ConstantSpeculativeExecutionPolicy(delay, 2) if delay
                                      else NoSpeculativeExecutionPolicy()),
    )
    auth = (PlainTextAuthProvider(s.cassandra_username, s.cassandra_password)
            if s.cassandra_username else None)
    cluster = Cluster(s.cassandra_hosts, port=s.cassandra_port, connect_timeout=5,
                      protocol_version=5, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                      auth_provider=auth)
    try:
        return cluster.connect(keyspace)
    except NoHostAvailable as exc:
        cluster.shutdown()
        reason = next(iter(exc.errors.values()), exc)
        where = ",".join(s.cassandra_hosts)
        raise StackError(f"Cassandra at {where}:{s.cassandra_port}: {reason}") from None
