"""The Dagster resources, without services: fields declared with the settings' types,
composition (overriding ``mysql`` reaches the stream), and the Cassandra session the
resource owns."""

from pathlib import Path

import dagster as dg
import pytest

from topproducts import cassandra_io
from topproducts.settings import Settings
from topproducts_assets import resources
from topproducts_assets.definitions import defs
from topproducts_assets.resources import (
    CassandraResource,
    KafkaResource,
    MySQLResource,
    StreamResource,
)


def test_fields_are_the_settings_types_and_optional() -> None:
    for cls in (MySQLResource, KafkaResource, CassandraResource, StreamResource):
        assert cls.overrides(), cls
        for name, setting in cls.overrides().items():
            kind = Settings.model_fields[setting].annotation
            expected = str if kind is Path else kind
            assert cls.model_fields[name].annotation == expected | None, (cls, name)
            assert cls.model_fields[name].default is None
    assert "TOPPRODUCTS_MYSQL_PORT" in MySQLResource.model_fields["port"].description


def test_a_field_overrides_its_setting_and_unset_fields_keep_it() -> None:
    base = Settings(mysql_port=3310, kafka_topic_prefix="base")
    s = MySQLResource(database_prefix="t_").apply(base)
    assert (s.mysql_database_prefix, s.mysql_port) == ("t_", 3310)
    assert KafkaResource().apply(base) is base


def test_resources_for_settings_rebuild_those_settings(tmp_path: Path) -> None:
    sandbox = Settings(state_dir=tmp_path, mysql_database_prefix="sb_", kafka_topic_prefix="sb",
                       cassandra_keyspace="sb", stream_stall_seconds=8.0)
    built = resources.for_settings(sandbox)
    s = built["stream"].settings()
    covered = {setting for cls in (MySQLResource, KafkaResource, CassandraResource,
                                   StreamResource) for setting in cls.overrides().values()}
    assert {k: getattr(s, k) for k in covered} == {k: getattr(sandbox, k) for k in covered}
    assert built["stream"].mysql is built["mysql"]


def test_passwords_take_an_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_DB_PASSWORD", "s3cret")
    mysql = MySQLResource(password=dg.EnvVar("SHOP_DB_PASSWORD"))

    @dg.asset
    def password(mysql: MySQLResource) -> str:
        return mysql.settings().mysql_password

    result = dg.materialize([password], resources={"mysql": mysql})
    assert result.output_for_node("password") == "s3cret"


def _stream_probe(**resource_overrides: object) -> dg.ExecuteInProcessResult:
    @dg.asset
    def probe(stream: StreamResource, mysql: MySQLResource) -> tuple:
        return (stream.settings().mysql_database_prefix, stream.mysql is mysql)

    return dg.Definitions(assets=[probe], resources=resources.RESOURCES
                          ).resolve_implicit_global_asset_job_def().execute_in_process(
        run_config={"resources": resource_overrides} if resource_overrides else None)


def test_run_config_for_mysql_reaches_the_stream() -> None:
    result = _stream_probe(mysql={"config": {"database_prefix": "rc_"}})
    assert result.output_for_node("probe") == ("rc_", True)


def test_the_definitions_share_one_resource_per_key() -> None:
    stream = defs.resources["stream"]
    assert sorted(defs.resources) == ["cassandra", "kafka", "mysql", "stream"]
    assert stream.mysql is defs.resources["mysql"]
    assert stream.cassandra is defs.resources["cassandra"]


class FakeCluster:
    def __init__(self) -> None:
        self.shut = False

    def shutdown(self) -> None:
        self.shut = True


class FakeSession:
    def __init__(self) -> None:
        self.cluster = FakeCluster()


def test_one_cassandra_session_per_execution_closed_at_the_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[FakeSession] = []
    schema: list[FakeSession] = []

    def connect(settings: Settings) -> FakeSession:
        opened.append(FakeSession())
        return opened[-1]

    monkeypatch.setattr(cassandra_io, "connect", connect)
    monkeypatch.setattr(resources, "ensure_schema", lambda session, s: schema.append(session))

    @dg.asset
    def first(stream: StreamResource, cassandra: CassandraResource) -> None:
        stores = [stream.cassandra.store(), cassandra.store(), cassandra.store(create=False)]
        assert stores[0] is stores[1] is stores[2]

    @dg.asset(deps=[first])
    def second(cassandra: CassandraResource) -> None:
        cassandra.store()

    # the deployed resources: `stream` holds the very `cassandra` resource Dagster initialized
    result = dg.materialize([first, second], resources=resources.RESOURCES)
    assert result.success
    # in process: one session for the run, its schema ensured once, shut down at the end
    assert len(opened) == 1 and schema == opened and opened[0].cluster.shut
