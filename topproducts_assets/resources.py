"""The Dagster resources: MySQL, Kafka, Cassandra (the leaderboard store) and the stream.

Each resource is a ``ConfigurableResource`` whose fields are *derived* from
:class:`topproducts.settings.Settings` (same types; one optional field per setting it
exposes). A field left unset (None) takes the setting (``TOPPRODUCTS_*``, else the local
default); set it in code, in run config or in the launchpad to override it. Password
fields take an ``EnvVar`` as Dagster users expect::

    MySQLResource(password=EnvVar("SHOP_DB_PASSWORD"), database_prefix="t_")

    # run config
    resources:
      mysql:
        config:
          password: {env: SHOP_DB_PASSWORD}

Resources own their clients: ``cassandra.store()`` is one Cassandra session for the
whole execution (a step, a sensor tick), closed when it ends; ``mysql.connection()``
and ``kafka.end_offsets()`` open and close theirs. Assets, checks and sensors ask the
resource; they never open a client themselves.

The ``stream`` resource is composed of the other three: :data:`RESOURCES` gives it the
very objects bound to the keys ``mysql``, ``kafka`` and ``cassandra`` (configured at
launch), so overriding one of them, in run config or with :func:`compose`, reaches the
stream too.

(No ``from __future__ import annotations``: Dagster reads the field annotations at runtime
to see which fields are resources.)
"""

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import dagster as dg
from pydantic import Field, PrivateAttr, create_model
from pymysql.connections import Connection

from topproducts import cassandra_io, db, monitor
from topproducts import stream_control as stream_process
from topproducts.events import Topic
from topproducts.leaderboards.ranking import Geometry
from topproducts.leaderboards.schema import ensure_schema
from topproducts.leaderboards.store import LeaderboardStore, Progress
from topproducts.settings import Settings, get_settings, variable


class SettingsResource(dg.ConfigurableResource):
    """A resource whose fields override settings: ``SETTINGS`` maps field -> setting."""

    SETTINGS: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def apply(self, settings: Settings) -> Settings:
        """``settings`` with this resource's fields that are set."""
        changes = {setting: getattr(self, name) for name, setting in self.SETTINGS.items()
                   if getattr(self, name) is not None}
        return settings.replace(**changes) if changes else settings

    def settings(self) -> Settings:
        return self.apply(get_settings())


def settings_fields(name: str, **fields: str) -> type[SettingsResource]:
    """A resource base class with one optional field per setting (field name=setting name),
    typed and described from :class:`Settings` (a ``Path`` setting is a ``str`` field)."""
    definitions: dict[str, Any] = {}
    for field, setting in fields.items():
        info = Settings.model_fields[setting]
        kind = str if info.annotation is Path else info.annotation
        assert kind is not None  # every setting is annotated
        secret = setting.endswith("_password")
        shown = str(info.default) if isinstance(info.default, Path) else repr(info.default)
        default = "" if secret else f", else {shown}"
        hint = " (use an EnvVar)" if secret else ""
        definitions[field] = (kind | None, Field(
            default=None, description=f"unset: {variable(setting)}{default}{hint}"))
    base = create_model(name, __base__=SettingsResource, **definitions)
    base.SETTINGS = MappingProxyType(fields)
    return base


# A type checker cannot see a base class made at runtime (mypy: "Unsupported dynamic base
# class"): each resource below ignores that error, and its generated fields are unchecked.
class MySQLResource(settings_fields(  # type: ignore[misc]  # a generated base
        "MySQLFields", host="mysql_host", port="mysql_port", user="mysql_user",
        password="mysql_password", database_prefix="mysql_database_prefix")):
    """The shop's MySQL / MariaDB server (the five bounded-context databases)."""

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection as the application user, closed afterwards (each use sees the
        latest commits)."""
        conn = db.connect(self.settings())
        try:
            yield conn
        finally:
            conn.close()


class KafkaResource(settings_fields(  # type: ignore[misc]  # a generated base
        "KafkaFields", bootstrap="kafka_bootstrap", topic_prefix="kafka_topic_prefix",
        partitions="kafka_partitions", sasl_username="kafka_sasl_username",
        sasl_password="kafka_sasl_password")):
    """The Kafka cluster the shop publishes its events to."""

    def end_offsets(self, topics: list[str]) -> monitor.Offsets:
        """The next offset of every partition of ``topics``."""
        return monitor.end_offsets(self.settings(), topics)


class CassandraResource(settings_fields(  # type: ignore[misc]  # a generated base
        "CassandraFields", host="cassandra_host", port="cassandra_port",
        keyspace="cassandra_keyspace", contact_points="cassandra_contact_points",
        local_dc="cassandra_local_dc", consistency="cassandra_consistency",
        username="cassandra_username", password="cassandra_password")):
    """The leaderboards' Cassandra keyspace. Owns one session per execution (opened on
    first use, closed when the step or sensor tick ends)."""

    _store: LeaderboardStore | None = PrivateAttr(default=None)
    _schema_ready: bool = PrivateAttr(default=False)

    def store(self, create: bool = True) -> LeaderboardStore:
        """The leaderboard store on this resource's session (one for the execution, its
        statements prepared once); ``create`` first makes sure the keyspace and tables
        exist (once per execution)."""
        settings = self.settings()
        if self._store is None:
            self._store = LeaderboardStore(
                cassandra_io.connect(settings), settings.cassandra_keyspace,
                Geometry.configured(settings))
        if create and not self._schema_ready:
            ensure_schema(self._store.session, settings)
            self._schema_ready = True
        return self._store

    def close(self) -> None:
        """Shut the session's cluster down (Dagster calls this when the execution ends)."""
        if self._store is not None:
            self._store.session.cluster.shutdown()
            self._store = None
            self._schema_ready = False

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()


class StreamResource(settings_fields(  # type: ignore[misc]  # a generated base
        "StreamFields", state_dir="state_dir", trigger_seconds="stream_trigger_seconds",
        stall_seconds="stream_stall_seconds",
        restart_cooldown_seconds="stream_restart_cooldown_seconds",
        freshness_seconds="leaderboard_freshness_seconds",
        reconcile_wait_seconds="reconcile_wait_seconds")):
    """The streaming job (stream control): its input (Kafka), its output (Cassandra), its
    state folder (pid, log, checkpoints), and the thresholds that judge it.

    Holds the MySQL, Kafka and Cassandra resources, because the stream reads Kafka, writes
    Cassandra, and monitoring it compares both with MySQL's ground truth.
    """

    mysql: MySQLResource
    kafka: KafkaResource
    cassandra: CassandraResource

    def settings(self) -> Settings:
        """Every setting the stream and its checks use: the three resources', then its own."""
        base = self.cassandra.apply(self.kafka.apply(self.mysql.apply(get_settings())))
        return self.apply(base)

    def running_pid(self) -> int | None:
        return stream_process.running_pid(self.settings())

    def start(self) -> int:
        return stream_process.start(self.settings())

    def stop(self) -> int | None:
        return stream_process.stop(self.settings())

    def log_file(self) -> Path:
        return stream_process.log_file(self.settings())

    def health(self, now: datetime | None = None) -> tuple[monitor.Health, list[Progress]]:
        """The stream's health (:func:`topproducts.monitor.assess`) from its pid, its progress
        rows (through the Cassandra resource's session) and Kafka's end offsets."""
        settings = self.settings()
        now = now or datetime.now(UTC)
        progress = self.cassandra.store().progress()
        end = self.kafka.end_offsets([settings.topic(Topic.ORDERS)])
        return monitor.health_of(settings, progress, end, now), progress


def compose(mysql: MySQLResource | None = None, kafka: KafkaResource | None = None,
            cassandra: CassandraResource | None = None, **stream: Any
            ) -> dict[str, dg.ConfigurableResource]:
    """The four resources by key, the stream built from the same three objects (for code
    and tests: override ``mysql`` here and the stream uses it too). Dagster initializes a
    fully configured nested resource for the stream apart from its key (same config, its
    own client); :data:`RESOURCES` shares one by key, as they are configured at launch."""
    mysql = mysql or MySQLResource()
    kafka = kafka or KafkaResource()
    cassandra = cassandra or CassandraResource()
    return {"mysql": mysql, "kafka": kafka, "cassandra": cassandra,
            "stream": StreamResource(mysql=mysql, kafka=kafka, cassandra=cassandra, **stream)}


def for_settings(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Resources whose every field is set from ``settings`` (a test's sandbox, say)."""

    def build(cls: type[SettingsResource], **extra: Any) -> Any:
        values = {name: getattr(settings, setting) for name, setting in cls.SETTINGS.items()}
        return cls(**{k: str(v) if isinstance(v, Path) else v for k, v in values.items()},
                   **extra)

    mysql, kafka, cassandra = (build(MySQLResource), build(KafkaResource),
                               build(CassandraResource))
    return {"mysql": mysql, "kafka": kafka, "cassandra": cassandra,
            "stream": build(StreamResource, mysql=mysql, kafka=kafka, cassandra=cassandra)}


def shop_settings(mysql: MySQLResource, kafka: KafkaResource) -> Settings:
    """Settings for code that needs both MySQL and Kafka."""
    return kafka.apply(mysql.apply(get_settings()))


def _deployed() -> dict[str, dg.ConfigurableResource]:
    # Configured at launch: run config for `mysql`, `kafka` or `cassandra` reaches the
    # stream, which holds these very objects (Dagster resolves them by identity).
    return compose(MySQLResource.configure_at_launch(), KafkaResource.configure_at_launch(),
                   CassandraResource.configure_at_launch())


RESOURCES: dict[str, Any] = _deployed()
