"""The Dagster resources: MySQL, Kafka, Cassandra (the leaderboard store) and the stream.

Each resource is a ``ConfigurableResource`` with declared fields, one per setting it
exposes (``host: str | None = setting("mysql_host")``: the setting's type, optional). A
field left unset (None) takes the setting (``TOPPRODUCTS_*``, else the local default); set
it in code, in run config or in the launchpad to override it. Password fields take an
``EnvVar`` as Dagster users expect::

    MySQLResource(password=EnvVar("SHOP_DB_PASSWORD"), database_prefix="t_")

    # run config
    resources:
      mysql:
        config:
          password: {env: SHOP_DB_PASSWORD}

Resources own their clients: ``cassandra.store()`` is one Cassandra session for the
whole execution (a step, a sensor tick), closed when it ends, and reconciliation and
rebuild run on it; ``mysql.connection()`` and ``kafka.end_offsets()`` open and close
theirs per use. Assets, checks and sensors ask for the resources they use (``mysql``,
``kafka``, ``cassandra``, or ``stream`` when they judge the streaming job itself) and never
open a Cassandra session themselves.

The ``stream`` resource is composed of the other three: :data:`RESOURCES` gives it the
very objects bound to the keys ``mysql``, ``kafka`` and ``cassandra`` (configured at
launch), so overriding one of them, in run config or with :func:`compose`, reaches the
stream too.

(No ``from __future__ import annotations``: Dagster reads the field annotations at runtime
to see which fields are resources.)
"""

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from topproducts import db, monitor
from topproducts import stream_control as stream_process
from topproducts.db import Connection
from topproducts.events import Topic
from topproducts.leaderboards.schema import ensure_schema
from topproducts.leaderboards.store import LeaderboardStore, Progress
from topproducts.settings import Settings, get_settings, variable


def setting(name: str) -> Any:
    """A resource field that overrides the setting ``name`` when set (None: keep the
    setting, from ``TOPPRODUCTS_*`` or its local default). Declare it with the setting's
    type (a ``Path`` setting is a ``str`` field), ``| None``; a unit test holds the two
    equal."""
    info = Settings.model_fields[name]
    secret = name.endswith("_password")
    shown = str(info.default) if isinstance(info.default, Path) else repr(info.default)
    default = "" if secret else f", else {shown}"
    hint = " (use an EnvVar)" if secret else ""
    return Field(default=None, description=f"unset: {variable(name)}{default}{hint}",
                 json_schema_extra={"setting": name})


class SettingsResource(dg.ConfigurableResource):
    """A resource whose fields (declared with :func:`setting`) override settings."""

    @classmethod
    def overrides(cls) -> dict[str, str]:
        """Field name -> the setting it overrides."""
        return {name: str(extra["setting"]) for name, info in cls.model_fields.items()
                if isinstance(extra := info.json_schema_extra, dict) and "setting" in extra}

    def apply(self, settings: Settings) -> Settings:
        """``settings`` with this resource's fields that are set."""
        changes = {setting: getattr(self, name) for name, setting in self.overrides().items()
                   if getattr(self, name) is not None}
        return settings.replace(**changes) if changes else settings

    def settings(self) -> Settings:
        return self.apply(get_settings())


def settings_of(*parts: SettingsResource) -> Settings:
    """The settings with the fields of every resource in ``parts`` applied, in order."""
    out = get_settings()
    for part in parts:
        out = part.apply(out)
    return out


class MySQLResource(SettingsResource):
    """The shop's MySQL / MariaDB server (the five bounded-context databases)."""

    host: str | None = setting("mysql_host")
    port: int | None = setting("mysql_port")
    user: str | None = setting("mysql_user")
    password: str | None = setting("mysql_password")
    database_prefix: str | None = setting("mysql_database_prefix")

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection as the application user, closed afterwards (each use sees the
        latest commits)."""
        conn = db.connect(self.settings())
        try:
            yield conn
        finally:
            conn.close()


class KafkaResource(SettingsResource):
    """The Kafka cluster the shop publishes its events to."""

    bootstrap: str | None = setting("kafka_bootstrap")
    topic_prefix: str | None = setting("kafka_topic_prefix")
    partitions: int | None = setting("kafka_partitions")
    sasl_username: str | None = setting("kafka_sasl_username")
    sasl_password: str | None = setting("kafka_sasl_password")

    def end_offsets(self, topics: list[str]) -> monitor.Offsets:
        """The next offset of every partition of ``topics``."""
        return monitor.end_offsets(self.settings(), topics)


class CassandraResource(SettingsResource):
    """The leaderboards' Cassandra keyspace. Owns one session per execution (opened on
    first use, closed when the step or sensor tick ends)."""

    host: str | None = setting("cassandra_host")
    port: int | None = setting("cassandra_port")
    keyspace: str | None = setting("cassandra_keyspace")
    contact_points: str | None = setting("cassandra_contact_points")
    local_dc: str | None = setting("cassandra_local_dc")
    consistency: str | None = setting("cassandra_consistency")
    username: str | None = setting("cassandra_username")
    password: str | None = setting("cassandra_password")

    _store: LeaderboardStore | None = PrivateAttr(default=None)
    _schema_ready: bool = PrivateAttr(default=False)

    def store(self, create: bool = True) -> LeaderboardStore:
        """The leaderboard store on this resource's session (one for the execution, its
        statements prepared once); ``create`` first makes sure the keyspace and tables
        exist (once per execution)."""
        if self._store is None:
            self._store = LeaderboardStore.connect(self.settings(), create=False)
        if create and not self._schema_ready:
            ensure_schema(self._store.session, self.settings())
            self._schema_ready = True
        return self._store

    def close(self) -> None:
        """Shut the session's cluster down (Dagster calls this when the execution ends)."""
        if self._store is not None:
            self._store.close()
            self._store = None
            self._schema_ready = False

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()


class StreamResource(SettingsResource):
    """The streaming job (stream control): its input (Kafka), its output (Cassandra), its
    state folder (pid, log, checkpoints), and the thresholds that judge it.

    Holds the MySQL, Kafka and Cassandra resources, because the stream reads Kafka, writes
    Cassandra, and monitoring it compares both with MySQL's ground truth.
    """

    mysql: MySQLResource
    kafka: KafkaResource
    cassandra: CassandraResource
    state_dir: str | None = setting("state_dir")
    trigger_seconds: float | None = setting("stream_trigger_seconds")
    stall_seconds: float | None = setting("stream_stall_seconds")
    restart_cooldown_seconds: float | None = setting("stream_restart_cooldown_seconds")
    freshness_seconds: float | None = setting("leaderboard_freshness_seconds")
    reconcile_wait_seconds: float | None = setting("reconcile_wait_seconds")

    def settings(self) -> Settings:
        """Every setting the stream and its checks use: the three resources', then its own."""
        return settings_of(self.mysql, self.kafka, self.cassandra, self)

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
        values = {name: getattr(settings, setting) for name, setting in cls.overrides().items()}
        return cls(**{k: str(v) if isinstance(v, Path) else v for k, v in values.items()},
                   **extra)

    mysql, kafka, cassandra = (build(MySQLResource), build(KafkaResource),
                               build(CassandraResource))
    return {"mysql": mysql, "kafka": kafka, "cassandra": cassandra,
            "stream": build(StreamResource, mysql=mysql, kafka=kafka, cassandra=cassandra)}


def _deployed() -> dict[str, Any]:
    # Configured at launch: run config for `mysql`, `kafka` or `cassandra` reaches the
    # stream, which holds these very objects (Dagster resolves them by identity).
    mysql, kafka, cassandra = (MySQLResource.configure_at_launch(),
                               KafkaResource.configure_at_launch(),
                               CassandraResource.configure_at_launch())
    return {"mysql": mysql, "kafka": kafka, "cassandra": cassandra,
            "stream": StreamResource(mysql=mysql, kafka=kafka, cassandra=cassandra)}


RESOURCES: dict[str, Any] = _deployed()
