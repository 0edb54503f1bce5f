"""The cluster's settings and the clients built from them (issue 14), without services."""

import pytest

from topproducts import cassandra_io, kafka_io
from topproducts.errors import ConfigError, StackError
from topproducts.settings import Settings
from topproducts.stack import cluster
from topproducts.stack.spark import spark_conf


def test_single_node_defaults_are_unchanged() -> None:
    s = Settings.from_env({})
    assert (s.kafka_replication, s.kafka_min_insync_replicas) == (1, 1)
    assert s.cassandra_consistency == "LOCAL_ONE" and s.cassandra_hosts == ["127.0.0.1"]
    assert s.spark_master == "local[2]"
    assert kafka_io.security_config(s) == {} and kafka_io.java_client_options(s) == {}


def test_tokens_are_balanced_over_the_murmur3_ring() -> None:
    tokens = cluster.balanced_tokens(3)
    assert tokens[0] == -(2**63) and tokens == sorted(tokens)
    gaps = [b - a for a, b in zip(tokens, [*tokens[1:], tokens[0] + 2**64], strict=True)]
    assert max(gaps) - min(gaps) <= 2


def test_client_settings_replicate_three_times_and_write_to_two() -> None:
    c = cluster.client_settings(Settings())
    assert c.kafka_bootstrap == "127.0.0.2:9092,127.0.0.3:9092,127.0.0.4:9092"
    assert (c.kafka_replication, c.kafka_min_insync_replicas) == (3, 2)
    assert c.cassandra_hosts == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert "NetworkTopologyStrategy" in c.cassandra_replication
    assert "'datacenter1': 3" in c.cassandra_replication
    assert c.cassandra_consistency == "LOCAL_QUORUM"
    assert c.spark_master == "spark://127.0.0.2:7077" and c.spark_ui_port == 4041
    assert c.state_dir == Settings().cluster_state_dir
    assert c.kafka_sasl_username and c.cassandra_username  # credentials on


def test_client_settings_keep_credentials_that_are_set_and_are_idempotent() -> None:
    base = Settings(kafka_sasl_username="u", kafka_sasl_password="p",
                    cassandra_username="cu", cassandra_password="cp")
    once = cluster.client_settings(base)
    assert (once.kafka_sasl_username, once.cassandra_password) == ("u", "cp")
    assert cluster.client_settings(once) == once


def test_env_points_a_child_process_at_the_cluster() -> None:
    env = cluster.client_env(Settings())
    assert env["TOPPRODUCTS_CASSANDRA_CONSISTENCY"] == "LOCAL_QUORUM"
    rebuilt = Settings.from_env(env)
    assert rebuilt.kafka_bootstrap == cluster.client_settings(Settings()).kafka_bootstrap
    assert cluster.client_settings(rebuilt) == cluster.client_settings(Settings())


def test_three_hosts_are_needed() -> None:
    with pytest.raises(StackError, match="TOPPRODUCTS_CLUSTER_HOSTS needs 3"):
        cluster.client_settings(Settings(cluster_hosts="127.0.0.2,127.0.0.3"))


def test_sasl_for_python_and_java_clients() -> None:
    s = Settings(kafka_sasl_username="shop", kafka_sasl_password='p"w')
    assert kafka_io.security_config(s)["security.protocol"] == "SASL_PLAINTEXT"
    assert kafka_io.producer_config(s)["sasl.username"] == "shop"
    jaas = kafka_io.java_client_options(s)["sasl.jaas.config"]
    assert 'username="shop"' in jaas and 'password="p\\"w"' in jaas and jaas.endswith(";")


def test_consistency_by_name_or_one_line_error() -> None:
    assert cassandra_io.consistency(Settings(cassandra_consistency="local_quorum")) == 6
    with pytest.raises(ConfigError, match="TOPPRODUCTS_CASSANDRA_CONSISTENCY='TWO_AND_A_HALF'"):
        cassandra_io.consistency(Settings(cassandra_consistency="TWO_AND_A_HALF"))


def test_standalone_master_gets_executor_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("topproducts.stack.spark.kafka_jars", lambda s: ["a.jar"])
    local = spark_conf(Settings(), "app")
    assert "spark.executor.memory" not in local
    remote = spark_conf(cluster.client_settings(Settings()), "app")
    assert remote["spark.master"] == "spark://127.0.0.2:7077"
    assert remote["spark.executor.memory"] == "512m"
    assert remote["spark.driver.bindAddress"] == "127.0.0.1"


def test_driver_java_options_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("topproducts.stack.spark.kafka_jars", lambda s: ["a.jar"])
    assert "spark.driver.extraJavaOptions" not in spark_conf(Settings(), "app")
    flags = Settings(spark_driver_java_options="-XX:TieredStopAtLevel=1")
    assert spark_conf(flags, "app")["spark.driver.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"
