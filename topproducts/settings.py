"""All configuration, read once from the environment, with local defaults.

Every host, port, credential, heap size and tuning knob of the project is a
field here; nothing else reads ``os.environ``. A field named ``mysql_port`` is
set by the environment variable ``TOPPRODUCTS_MYSQL_PORT``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

from topproducts.errors import ConfigError

PREFIX = "TOPPRODUCTS_"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """The project's settings. Build with :func:`get_settings` or :meth:`from_env`."""

    # Where the local stack keeps its data, logs and pid files (git-ignored).
    state_dir: Path = REPO_ROOT / ".stack"

    # MySQL / MariaDB: the shop's source of truth.
    mysql_host: str = "127.0.0.1"
    mysql_port: int = 3306
    mysql_user: str = "topproducts"
    mysql_password: str = "topproducts"  # local default only; set the env var elsewhere
    mysql_database_prefix: str = ""  # tests use one to get their own five databases

    # Kafka (KRaft, one node: broker + controller).
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    kafka_partitions: int = 3
    kafka_topic_prefix: str = "shop"
    # Replication of the shop topics (a cluster: 3 and 2, so one broker may die).
    kafka_replication: int = 1
    kafka_min_insync_replicas: int = 1
    # SASL/SCRAM credentials; empty user = PLAINTEXT (the single node).
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"

    # Cassandra (one node).
    cassandra_host: str = "127.0.0.1"
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_heap: str = "1g"
    cassandra_keyspace: str = "topproducts"
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    # More nodes to contact, comma-separated hosts (empty: cassandra_host only).
    cassandra_contact_points: str = ""
    cassandra_local_dc: str = "datacenter1"
    # Every read and write (a cluster with replication 3: LOCAL_QUORUM).
    cassandra_consistency: str = "LOCAL_ONE"
    # PasswordAuthenticator credentials; empty user = no authentication (the single node).
    cassandra_username: str = ""
    cassandra_password: str = ""

    # Spark.
    spark_master: str = "local[2]"
    spark_driver_memory: str = "1g"
    spark_shuffle_partitions: int = 2  # the stream's dedupe state: one RocksDB store each
    spark_ui_port: int = 4040
    # Executors on a spark:// master (unused by local[N]).
    spark_executor_memory: str = "512m"
    spark_executor_cores: int = 1
    # A micro-batch starts at most this often (sooner is wasted polling; a busy stream
    # starts the next batch as soon as the last one ends).
    stream_trigger_seconds: float = 0.2
    # The largest micro-batch, in Kafka messages (a backlog drains in batches this big).
    stream_max_offsets_per_trigger: int = 500_000
    # How long the broker may hold a fetch that has no data (Kafka's default is 500 ms,
    # which every micro-batch then waits for).
    stream_fetch_max_wait_ms: int = 10
    # Boards of open windows other than the current and the next one are written at most
    # this often while batches run, and when the stream goes idle (about 1 s later).
    stream_board_refresh_seconds: float = 2.0
    # Monitoring (the Dagster sensor and checks).
    stream_stall_seconds: float = 120.0  # no batch for this long while input waits = stalled
    stream_restart_cooldown_seconds: float = 120.0  # at most one restart request per period
    leaderboard_freshness_seconds: float = 120.0  # a confirmed order shows within this
    reconcile_wait_seconds: float = 60.0  # how long reconciliation waits for a quiet moment

    # Leaderboards.
    top_n: int = 10
    window_duration: str = "1 hour"
    window_slide: str = "5 minutes"
    watermark: str = "10 minutes"
    reporting_currency: str = "USD"

    # Dagster and the API.
    dagster_host: str = "127.0.0.1"
    dagster_port: int = 3000
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_key: str = "local-dev-key"  # local default only; set the env var elsewhere
    # The API serves leaderboards from memory and re-reads each watched board this often
    # (pushing it to the page when it changed): the most a read lags Cassandra.
    api_board_refresh_seconds: float = 0.1

    # The local cluster (`topproducts cluster`): one loopback address per node, its
    # folder, and small heaps (9 JVMs share the machine).
    cluster_hosts: str = "127.0.0.2,127.0.0.3,127.0.0.4"
    cluster_state_dir: Path = REPO_ROOT / ".stack" / "cluster"
    cluster_kafka_heap: str = "384m"
    cluster_cassandra_heap: str = "640m"
    cluster_spark_master_port: int = 7077
    cluster_spark_worker_memory: str = "1g"

    # Derived paths -----------------------------------------------------------
    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def checkpoint_dir(self) -> Path:
        return self.state_dir / "checkpoints"

    @property
    def kafka_host(self) -> str:
        return self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[0]

    @property
    def dagster_graphql_url(self) -> str:
        """Dagster's GraphQL endpoint (the webserver's), for the CLI, Airflow and tests."""
        return f"http://{self.dagster_host}:{self.dagster_port}/graphql"

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])

    @property
    def cassandra_hosts(self) -> list[str]:
        """Contact points: ``cassandra_contact_points`` if set, else ``cassandra_host``."""
        hosts = [h.strip() for h in self.cassandra_contact_points.split(",") if h.strip()]
        return hosts or [self.cassandra_host]

    @property
    def cluster_host_list(self) -> list[str]:
        return [h.strip() for h in self.cluster_hosts.split(",") if h.strip()]

    def database(self, name: str) -> str:
        """Full database name for a bounded context such as ``order_management``."""
        return f"{self.mysql_database_prefix}{name}"

    def topic(self, name: str) -> str:
        """Full Kafka topic name for a short name such as ``orders``."""
        return f"{self.kafka_topic_prefix}.{name}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every field from ``TOPPRODUCTS_<FIELD>``; unknown variables are ignored."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _parse(f, raw)
        return cls(**values)

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """Every field as its ``TOPPRODUCTS_*`` variable: a child process rebuilds these
        exact settings with :meth:`from_env`."""
        return {PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}


def _parse(f: dataclasses.Field, raw: str) -> object:
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    name = PREFIX + f.name.upper()
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw).expanduser().resolve()
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind}") from None
    return raw


@cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings.from_env()


__all__ = ["PREFIX", "REPO_ROOT", "Settings", "get_settings"]
