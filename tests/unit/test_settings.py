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
