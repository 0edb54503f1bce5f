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


LOOPBACK = Settings(cluster_network="loopback")
NETNS = Settings(cluster_network="netns")


def test_client_settings_replicate_three_times_and_write_to_two() -> None:
    c = cluster.client_settings(LOOPBACK)
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
                    cassandra_username="cu", cassandra_password="cp", cluster_network="netns")
    once = cluster.client_settings(base)
    assert (once.kafka_sasl_username, once.cassandra_password) == ("u", "cp")
    assert cluster.client_settings(once) == once


@pytest.mark.parametrize("base", [LOOPBACK, NETNS], ids=["loopback", "netns"])
def test_env_points_a_child_process_at_the_cluster(base: Settings) -> None:
    env = cluster.client_env(base)
    assert env["TOPPRODUCTS_CASSANDRA_CONSISTENCY"] == "LOCAL_QUORUM"
    rebuilt = Settings.from_env(env)
    assert rebuilt.kafka_bootstrap == cluster.client_settings(base).kafka_bootstrap
    assert cluster.client_settings(rebuilt) == cluster.client_settings(base)


def test_three_hosts_are_needed() -> None:
    with pytest.raises(StackError, match="TOPPRODUCTS_CLUSTER_HOSTS needs 3"):
        cluster.client_settings(Settings(cluster_hosts="127.0.0.2,127.0.0.3",
                                         cluster_network="loopback"))


def test_every_node_on_its_own_host_and_the_driver_on_the_app_host() -> None:
    c = cluster.client_settings(NETNS)
    assert c.cluster_network == "netns"
    hosts = cluster.network(c).by_name()
    assert set(hosts) == set(cluster.HOSTS)
    assert len({h.address for h in hosts.values()}) == len(cluster.HOSTS)
    assert c.kafka_bootstrap == ",".join(f"{hosts[n].address}:9092" for n in cluster.KAFKA_NODES)
    assert c.cassandra_hosts == [hosts[n].address for n in cluster.CASSANDRA_NODES]
    assert c.mysql_host == hosts["mariadb"].address
    assert c.spark_master == f"spark://{hosts['spark-master'].address}:7077"
    assert (c.spark_driver_host, c.stream_netns) == (hosts["app"].address, "tp-app")
    for svc in cluster.services(c):
        assert svc.host == hosts[svc.name].address
        assert svc.launcher() == ["ip", "netns", "exec", f"tp-{svc.name}"]


def test_loopback_aliases_keep_todays_layout() -> None:
    c = cluster.client_settings(LOOPBACK)
    placed = {svc.name: svc.host for svc in cluster.services(c)}
    assert placed["spark-worker-1"] == "127.0.0.3" and placed["cassandra-3"] == "127.0.0.4"
    assert (c.spark_driver_host, c.stream_netns) == ("127.0.0.1", "")
    assert all(svc.launcher() == [] for svc in cluster.services(c))


def test_the_database_user_may_log_in_from_every_host() -> None:
    mariadb = cluster.by_name(cluster.client_settings(NETNS), "mariadb")
    assert "10.213.0.0/255.255.255.0" in mariadb.client_hosts()  # type: ignore[attr-defined]


def test_controllers_authenticate_with_plain_when_clients_use_scram() -> None:
    node = cluster.KafkaNode(cluster.client_settings(NETNS), 0)
    protocol, controller, sasl = node._sasl()
    assert (protocol, controller) == ("SASL_PLAINTEXT", "SASL_PLAINTEXT")
    assert "sasl.mechanism.controller.protocol=PLAIN" in sasl
    assert 'user_topproducts="topproducts-cluster"' in sasl
    bare = cluster.KafkaNode(Settings(cluster_network="netns"), 0)
    assert bare._sasl() == ("PLAINTEXT", "PLAINTEXT", "")


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
    assert (local["spark.driver.host"], local["spark.driver.bindAddress"]) == (
        "127.0.0.1", "127.0.0.1")
    remote = spark_conf(cluster.client_settings(LOOPBACK), "app")
    assert remote["spark.master"] == "spark://127.0.0.2:7077"
    assert remote["spark.executor.memory"] == "512m"
    assert remote["spark.driver.bindAddress"] == "127.0.0.1"
    hosts = spark_conf(cluster.client_settings(NETNS), "app")
    assert hosts["spark.driver.host"] == hosts["spark.driver.bindAddress"] == "10.213.0.12"
    apart = spark_conf(Settings(spark_driver_host="driver.example", spark_driver_bind_address=
                                "0.0.0.0"), "app")
    assert (apart["spark.driver.host"], apart["spark.driver.bindAddress"]) == (
        "driver.example", "0.0.0.0")


def test_driver_java_options_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("topproducts.stack.spark.kafka_jars", lambda s: ["a.jar"])
    assert "spark.driver.extraJavaOptions" not in spark_conf(Settings(), "app")
    flags = Settings(spark_driver_java_options="-XX:TieredStopAtLevel=1")
    assert spark_conf(flags, "app")["spark.driver.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"


def test_speculative_executions_on_the_cluster_only() -> None:
    assert Settings().cassandra_speculative_seconds == 0
    assert cluster.client_settings(NETNS).cassandra_speculative_seconds == 1.0
    keep = Settings(cluster_network="netns", cassandra_speculative_seconds=2.5)
    assert cluster.client_settings(keep).cassandra_speculative_seconds == 2.5
