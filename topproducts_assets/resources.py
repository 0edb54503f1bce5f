"""Resources shared by every domain: MySQL and Kafka connection settings.

One source of defaults: :mod:`topproducts.settings` (environment variables
``TOPPRODUCTS_*``, else local defaults). A resource field left unset (None)
takes the value from there; set a field (in code, with ``EnvVar``, or in the
launchpad) to override it for a deployment or a test::

    MySQLResource(password=EnvVar("SHOP_DB_PASSWORD"), database_prefix="t_")
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from topproducts.settings import Settings, get_settings


class MySQLResource(dg.ConfigurableResource):
    """The shop's MySQL / MariaDB server (the five bounded-context databases)."""

    host: str | None = Field(default=None, description="default: TOPPRODUCTS_MYSQL_HOST")
    port: int | None = Field(default=None, description="default: TOPPRODUCTS_MYSQL_PORT")
    user: str | None = Field(default=None, description="default: TOPPRODUCTS_MYSQL_USER")
    password: str | None = Field(default=None,
                                 description="default: TOPPRODUCTS_MYSQL_PASSWORD")
    database_prefix: str | None = Field(
        default=None, description="prefix of the five database names (tests use one); "
                                  "default: TOPPRODUCTS_MYSQL_DATABASE_PREFIX")

    def apply(self, settings: Settings) -> Settings:
        return _override(settings, mysql_host=self.host, mysql_port=self.port,
                         mysql_user=self.user, mysql_password=self.password,
                         mysql_database_prefix=self.database_prefix)

    def settings(self) -> Settings:
        return self.apply(get_settings())


class KafkaResource(dg.ConfigurableResource):
    """The Kafka cluster the shop publishes its events to."""

    bootstrap: str | None = Field(default=None,
                                  description="default: TOPPRODUCTS_KAFKA_BOOTSTRAP")
    topic_prefix: str | None = Field(
        default=None, description="topics are <prefix>.orders etc.; "
                                  "default: TOPPRODUCTS_KAFKA_TOPIC_PREFIX")
    partitions: int | None = Field(default=None,
                                   description="default: TOPPRODUCTS_KAFKA_PARTITIONS")

    def apply(self, settings: Settings) -> Settings:
        return _override(settings, kafka_bootstrap=self.bootstrap,
                         kafka_topic_prefix=self.topic_prefix,
                         kafka_partitions=self.partitions)

    def settings(self) -> Settings:
        return self.apply(get_settings())


def _override(settings: Settings, **values: object) -> Settings:
    return settings.replace(**{k: v for k, v in values.items() if v is not None})


def shop_settings(mysql: MySQLResource, kafka: KafkaResource) -> Settings:
    """Settings for code that needs both MySQL and Kafka."""
    return kafka.apply(mysql.apply(get_settings()))


class StreamResource(dg.ConfigurableResource):
    """The streaming job: its input (Kafka), its output (Cassandra), its state folder.

    Holds the MySQL and Kafka resources too, because monitoring the stream compares
    Kafka's end offsets and MySQL's ground truth with what Cassandra holds.
    """

    mysql: MySQLResource
    kafka: KafkaResource
    cassandra_host: str | None = Field(default=None,
                                       description="default: TOPPRODUCTS_CASSANDRA_HOST")
    cassandra_port: int | None = Field(default=None,
                                       description="default: TOPPRODUCTS_CASSANDRA_PORT")
    keyspace: str | None = Field(default=None,
                                 description="default: TOPPRODUCTS_CASSANDRA_KEYSPACE")
    state_dir: str | None = Field(
        default=None, description="pid, log and checkpoints; default: TOPPRODUCTS_STATE_DIR")
    trigger_seconds: float | None = Field(
        default=None, description="micro-batch interval; default: "
                                  "TOPPRODUCTS_STREAM_TRIGGER_SECONDS")
    stall_seconds: float | None = Field(
        default=None, description="no batch for this long while input waits = stalled; "
                                  "default: TOPPRODUCTS_STREAM_STALL_SECONDS")
    restart_cooldown_seconds: float | None = Field(
        default=None, description="at most one restart request per period; default: "
                                  "TOPPRODUCTS_STREAM_RESTART_COOLDOWN_SECONDS")
    freshness_seconds: float | None = Field(
        default=None, description="a confirmed order must show within this; default: "
                                  "TOPPRODUCTS_LEADERBOARD_FRESHNESS_SECONDS")
    reconcile_wait_seconds: float | None = Field(
        default=None, description="how long reconciliation waits for a quiet moment; "
                                  "default: TOPPRODUCTS_RECONCILE_WAIT_SECONDS")

    def settings(self) -> Settings:
        base = shop_settings(self.mysql, self.kafka)
        return _override(
            base, cassandra_host=self.cassandra_host, cassandra_port=self.cassandra_port,
            cassandra_keyspace=self.keyspace,
            state_dir=Path(self.state_dir) if self.state_dir else None,
            stream_trigger_seconds=self.trigger_seconds,
            stream_stall_seconds=self.stall_seconds,
            stream_restart_cooldown_seconds=self.restart_cooldown_seconds,
            leaderboard_freshness_seconds=self.freshness_seconds,
            reconcile_wait_seconds=self.reconcile_wait_seconds)


RESOURCES: dict[str, object] = {
    "mysql": MySQLResource(),
    "kafka": KafkaResource(),
    "stream": StreamResource(mysql=MySQLResource(), kafka=KafkaResource()),
}
