"""All configuration, read once from the environment, with local defaults.

Every host, port, credential, heap size and tuning knob of the project is a
field of :class:`Settings`, a pydantic-settings class; nothing else reads
``os.environ``. A field named ``mysql_port`` is set by the environment variable
``TOPPRODUCTS_MYSQL_PORT``.

``Settings(...)`` is the defaults plus what you pass (the environment is not
read); :func:`get_settings` and :meth:`Settings.from_env` read the environment.
A bad value is a :class:`~topproducts.errors.ConfigError` of one line that names
the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from topproducts.errors import ConfigError

PREFIX = "TOPPRODUCTS_"
REPO_ROOT = Path(__file__).resolve().parent.parent

Port = Annotated[int, Field(ge=1, le=65535)]
Count = Annotated[int, Field(ge=1)]  # partitions, replicas, cores, N of top N...
Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """The project's settings. Build with :func:`get_settings` or :meth:`from_env`."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, case_sensitive=False, frozen=True,
                                      extra="forbid")

    # Where the local stack keeps its data, logs and pid files (git-ignored).
    state_dir: Path = REPO_ROOT / ".stack"

    # MySQL / MariaDB: the shop's source of truth.
    mysql_host: str = "127.0.0.1"
    mysql_port: Port = 3306
    mysql_user: str = "topproducts"
    mysql_password: str = "topproducts"  # local default only; set the env var elsewhere
    mysql_database_prefix: str = ""  # tests use one to get their own five databases

    # The outbox: published rows older than this are deleted by the relay (the audit trail
    # is then Kafka, the outbox rows within the retention, and the relay's position), at
    # most once per the interval, a bounded number of rows at a time.
    outbox_retention_hours: Annotated[float, Field(ge=0)] = 24.0
    outbox_prune_interval_seconds: Seconds = 60.0

    # Kafka (KRaft, one node: broker + controller).
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_controller_port: Port = 9093
    kafka_heap: str = "512m"
    kafka_partitions: Count = 3
    kafka_topic_prefix: str = "shop"
    # Replication of the shop topics (a cluster: 3 and 2, so one broker may die).
    kafka_replication: Count = 1
    kafka_min_insync_replicas: Count = 1
    # SASL/SCRAM credentials; empty user = PLAINTEXT (the single node).
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"

    # Cassandra (one node).
    cassandra_host: str = "127.0.0.1"
    cassandra_port: Port = 9042
    cassandra_storage_port: Port = 7000
    cassandra_heap: str = "1g"
    cassandra_keyspace: str = "topproducts"
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    # More nodes to contact, comma-separated hosts (empty: cassandra_host only).
    cassandra_contact_points: str = ""
    cassandra_local_dc: str = "datacenter1"
    # Every read and write (a cluster with replication 3: LOCAL_QUORUM).
    cassandra_consistency: str = "LOCAL_ONE"
    # An idempotent request (the store's) still unanswered after this long is sent to
    # another node too (0: never, the single node's default; the local cluster: 1 s).
    cassandra_speculative_seconds: Seconds = 0.0
    # PasswordAuthenticator credentials; empty user = no authentication (the single node).
    cassandra_username: str = ""
    cassandra_password: str = ""

    # Spark.
    spark_master: str = "local[2]"
    spark_driver_memory: str = "1g"
    # Extra JVM flags of the driver (local[N]: the JVM that runs the tasks too).
    spark_driver_java_options: str = ""
    spark_shuffle_partitions: Count = 2  # batch jobs' shuffles (the stream has none)
    spark_ui_port: Port = 4040
    # The address executors connect back to the driver on, and the one the driver (and its
    # UI) binds (empty: the driver host). Executors on other machines need a reachable one.
    spark_driver_host: str = "127.0.0.1"
    spark_driver_bind_address: str = ""
    # Executors on a spark:// master (unused by local[N]).
    spark_executor_memory: str = "512m"
    spark_executor_cores: Count = 1
    # A micro-batch starts at most this often (sooner is wasted polling; a busy stream
    # starts the next batch as soon as the last one ends).
    stream_trigger_seconds: Seconds = 0.2
    # The largest micro-batch, in Kafka messages (a backlog drains in batches this big).
    stream_max_offsets_per_trigger: Count = 500_000
    # A Kafka partition's share of a micro-batch above this many messages is read by more
    # than one Spark task: a backlog batch of 3 partitions on 2 cores then runs as even
    # waves instead of 2 tasks, then 1 alone. Live batches, far smaller, stay one task each.
    stream_max_records_per_task: Count = 50_000
    # How long the broker may hold a fetch that has no data (Kafka's default is 500 ms,
    # which every micro-batch then waits for).
    stream_fetch_max_wait_ms: Annotated[int, Field(ge=0)] = 10
    # Boards of open windows other than the current and the next one are written at most
    # this often while batches run, and when the stream goes idle (about 1 s later).
    stream_board_refresh_seconds: Seconds = 2.0
    # How the stream is launched: "python" (``python -m streaming.job``, the project builds
    # the session) or "spark-submit" (the session spark-submit builds, as on a cluster).
    stream_launcher: Literal["python", "spark-submit"] = "python"
    # The stream's checkpoints: a path or a Hadoop URL (empty: <state_dir>/checkpoints).
    stream_checkpoint_location: str = ""
    # Run the stream inside this Linux network namespace (the local cluster's app host).
    stream_netns: str = ""
    # Monitoring (the Dagster sensor and checks).
    # No batch for this long while input waits = stalled.
    stream_stall_seconds: PositiveSeconds = 120.0
    stream_restart_cooldown_seconds: Seconds = 120.0  # at most one restart request per period
    leaderboard_freshness_seconds: PositiveSeconds = 120.0  # a confirmed order shows within this
    reconcile_wait_seconds: Seconds = 60.0  # how long reconciliation waits for a quiet moment

    # Leaderboards.
    top_n: Count = 10
    window_duration: str = "1 hour"
    window_slide: str = "5 minutes"
    watermark: str = "10 minutes"
    reporting_currency: str = "USD"
    # The simulator cancels an order this long after its confirmation, drawn log-uniformly
    # between the two (at most the shop's age): seconds to days, as customers do.
    cancel_delay_min: str = "1 second"
    cancel_delay_max: str = "3 days"

    # Dagster and the API.
    dagster_host: str = "127.0.0.1"
    dagster_port: Port = 3000
    # The Airflow that `topproducts airflow` installs and runs the exported DAGs in, each in its
    # own venv (<state_dir>/airflow-<version>-venv): 3.3 (3.3.2), or 2.11 (2.11.2, through
    # dagster-airflow's DagsterOperator).
    airflow_version: Literal["3.3", "2.11"] = "3.3"
    api_host: str = "127.0.0.1"
    api_port: Port = 8000
    api_key: str = "local-dev-key"  # local default only; set the env var elsewhere
    # The API serves leaderboards from memory and re-reads each watched board this often
    # (pushing it to the page when it changed): the most a read lags Cassandra.
    api_board_refresh_seconds: PositiveSeconds = 0.1

    # The local cluster (`topproducts cluster`): its hosts, its folder, and small heaps
    # (9 JVMs share the machine). Hosts are network namespaces ("netns", as root) joined by
    # a bridge on cluster_subnet, or loopback aliases ("loopback": cluster_hosts, three
    # addresses); "auto" takes namespaces where it can.
    cluster_network: Literal["auto", "netns", "loopback"] = "auto"
    cluster_subnet: str = "10.213.0.0/24"
    cluster_netns_prefix: str = "tp-"
    cluster_hosts: str = "127.0.0.2,127.0.0.3,127.0.0.4"
    cluster_state_dir: Path = REPO_ROOT / ".stack" / "cluster"
    cluster_kafka_heap: str = "384m"
    cluster_cassandra_heap: str = "640m"
    cluster_spark_master_port: Port = 7077
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
        """The checkpoints' local folder (``stream_checkpoint_location`` if it is a path
        or a ``file:`` URL)."""
        location = self.stream_checkpoint_location
        if not location:
            return self.state_dir / "checkpoints"
        if location.startswith("file:"):
            return Path(location.removeprefix("file:").removeprefix("//"))
        return Path(location)

    @property
    def spark_driver_bind(self) -> str:
        return self.spark_driver_bind_address or self.spark_driver_host

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

    @field_validator("stream_checkpoint_location")
    @classmethod
    def _checkpoint(cls, location: str) -> str:
        scheme = location.split("://", 1)[0] if "://" in location else ""
        if scheme and scheme != "file":
            # The driver reads its checkpoint's commits at start-up, from a local disk.
            raise ValueError(f"{scheme}:// is not supported yet: give a path or a file:// URL "
                             "(a disk every driver host mounts)")
        return location

    @field_validator("state_dir", "cluster_state_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.expanduser().resolve()

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        # Settings(...) is the defaults plus its arguments; the environment is read by
        # from_env (os.environ, or a child process's environment before it starts).
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every field from ``TOPPRODUCTS_<FIELD>`` in ``environ`` (default:
        ``os.environ``); unknown variables are ignored."""
        return cls(**_Environment(cls, os.environ if environ is None else environ)())

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes``, validated like the environment's values."""
        return type(self)(**{**self.model_dump(), **changes})

    def to_env(self) -> dict[str, str]:
        """Every field as its ``TOPPRODUCTS_*`` variable: a child process rebuilds these
        exact settings with :meth:`from_env`."""
        return {variable(name): str(value) for name, value in self}


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over any mapping of variables."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items()}


def variable(field: str) -> str:
    """The environment variable of a field: ``mysql_port`` -> ``TOPPRODUCTS_MYSQL_PORT``."""
    return PREFIX + field.upper()


def _one_line(exc: ValidationError) -> str:
    """``TOPPRODUCTS_MYSQL_PORT='abc' is not a valid int``, one clause per bad field."""
    clauses = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        given = error.get("input")
        if field not in Settings.model_fields:
            clauses.append(f"{field!r} is not a setting" if field else error["msg"])
            continue
        kind = getattr(Settings.model_fields[field].annotation, "__name__", "value")
        if error["type"].endswith(("_parsing", "_type")):
            clauses.append(f"{variable(field)}={given!r} is not a valid {kind}")
        else:
            msg = error["msg"]
            clauses.append(f"{variable(field)}={given!r}: {msg[:1].lower()}{msg[1:]}")
    return "; ".join(clauses)


@cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings.from_env()


__all__ = ["PREFIX", "REPO_ROOT", "Settings", "get_settings", "variable"]
