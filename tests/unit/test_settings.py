from pathlib import Path

import pytest

from topproducts.errors import ConfigError
from topproducts.settings import REPO_ROOT, Settings


def test_defaults_are_local() -> None:
    s = Settings.from_env({})
    assert s.mysql_host == "127.0.0.1" and s.mysql_port == 3306
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert (s.kafka_host, s.kafka_port) == ("127.0.0.1", 9092)
    assert s.cassandra_port == 9042
    assert s.state_dir == REPO_ROOT / ".stack"
    assert s.logs_dir == s.state_dir / "logs"


def test_environment_overrides_each_type(tmp_path: Path) -> None:
    s = Settings.from_env({
        "TOPPRODUCTS_MYSQL_PORT": "3307",
        "TOPPRODUCTS_KAFKA_BOOTSTRAP": "localhost:19092",
        "TOPPRODUCTS_STREAM_TRIGGER_SECONDS": "0.5",
        "TOPPRODUCTS_STATE_DIR": str(tmp_path),
        "UNRELATED": "x",
    })
    assert s.mysql_port == 3307
    assert s.kafka_port == 19092 and s.kafka_host == "localhost"
    assert s.stream_trigger_seconds == 0.5
    assert s.state_dir == tmp_path


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="TOPPRODUCTS_MYSQL_PORT='abc' is not a valid int"):
        Settings.from_env({"TOPPRODUCTS_MYSQL_PORT": "abc"})


def test_names_with_prefixes() -> None:
    s = Settings.from_env({"TOPPRODUCTS_MYSQL_DATABASE_PREFIX": "t1_",
                           "TOPPRODUCTS_KAFKA_TOPIC_PREFIX": "t1"})
    assert s.database("order_management") == "t1_order_management"
    assert s.topic("orders") == "t1.orders"
    assert s.replace(kafka_topic_prefix="x").topic("orders") == "x.orders"


def test_to_env_round_trips(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path, mysql_port=3310, stream_stall_seconds=7.5,
                 kafka_topic_prefix="t9")
    assert Settings.from_env(s.to_env()) == s


def test_settings_ignore_the_environment_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPPRODUCTS_MYSQL_PORT", "3399")
    assert Settings().mysql_port == 3306  # the defaults (what "still the default" compares to)
    assert Settings.from_env().mysql_port == 3399


def test_out_of_range_values_are_one_line_naming_each_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"TOPPRODUCTS_KAFKA_PARTITIONS": "0", "TOPPRODUCTS_API_PORT": "70000",
                           "TOPPRODUCTS_STREAM_STALL_SECONDS": "-1"})
    message = str(caught.value)
    assert "\n" not in message
    for name in ("KAFKA_PARTITIONS='0'", "API_PORT='70000'", "STREAM_STALL_SECONDS='-1'"):
        assert f"TOPPRODUCTS_{name}" in message


def test_frozen_and_replace_validates(tmp_path: Path) -> None:
    s = Settings(state_dir=str(tmp_path))
    assert s.state_dir == tmp_path and isinstance(s.state_dir, Path)
    with pytest.raises(ValueError):
        s.mysql_port = 1  # type: ignore[misc]
    with pytest.raises(ConfigError, match="TOPPRODUCTS_TOP_N=0"):
        s.replace(top_n=0)
    with pytest.raises(ConfigError, match="'nope' is not a setting"):
        s.replace(nope=1)
    assert s.replace(top_n=3).top_n == 3 and s.top_n == 10


def test_paths_are_absolute() -> None:
    s = Settings.from_env({"TOPPRODUCTS_STATE_DIR": "~/somewhere"})
    assert s.state_dir == Path("~/somewhere").expanduser() and s.state_dir.is_absolute()
