"""Serving beyond loopback needs real secrets (issue 14, item 4)."""

import pytest
from click.testing import CliRunner

from topproducts.errors import ConfigError
from topproducts.exposure import check_bind, is_loopback, on_cluster_hosts
from topproducts.settings import Settings

SET = Settings(api_key="a-real-key", mysql_password="a-real-password")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.3", "::1", "[::1]", "localhost"])
def test_loopback_serves_with_the_local_defaults(host: str) -> None:
    assert is_loopback(host)
    check_bind(Settings(), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "shop.example.com"])
def test_elsewhere_is_not_loopback(host: str) -> None:
    assert not is_loopback(host)
    check_bind(SET, host)  # both secrets set: fine


def test_default_api_key_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^refusing to serve the API on 0\.0\.0\.0 .*"
                                          r"set TOPPRODUCTS_API_KEY$"):
        check_bind(SET.replace(api_key=Settings().api_key), "0.0.0.0")


def test_default_mysql_password_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"set TOPPRODUCTS_MYSQL_PASSWORD$"):
        check_bind(SET.replace(mysql_password=Settings().mysql_password), "10.0.0.5")


def test_both_defaults_name_both_in_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        check_bind(Settings(), "0.0.0.0", "the Dagster UI")
    message = str(info.value)
    assert "\n" not in message
    assert "TOPPRODUCTS_API_KEY and TOPPRODUCTS_MYSQL_PASSWORD are still" in message
    assert message.startswith("refusing to serve the Dagster UI on 0.0.0.0")


def test_api_command_refuses_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from topproducts import cli as cli_module
    from topproducts.settings import get_settings

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(k))
    get_settings.cache_clear()
    monkeypatch.delenv("TOPPRODUCTS_API_KEY", raising=False)
    monkeypatch.delenv("TOPPRODUCTS_MYSQL_PASSWORD", raising=False)
    try:
        result = CliRunner().invoke(cli_module.cli, ["api", "--host", "0.0.0.0"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0 and not served
    assert isinstance(result.exception, ConfigError)
    assert "TOPPRODUCTS_API_KEY" in str(result.exception)


def test_the_local_clusters_hosts_are_private_to_the_machine_unless_it_forwards() -> None:
    hosts = Settings(cluster_network="netns", cluster_subnet="10.213.0.0/24")
    assert on_cluster_hosts(hosts, "10.213.0.12", forwarding=False)
    assert not on_cluster_hosts(hosts, "10.213.0.12", forwarding=True)
    assert not on_cluster_hosts(hosts, "10.214.0.12", forwarding=False)
    assert not on_cluster_hosts(hosts.replace(cluster_network="loopback"), "10.213.0.12",
                                forwarding=False)
    assert not on_cluster_hosts(hosts, "shop.example.com", forwarding=False)


def test_cluster_refuses_reachable_hosts_on_default_passwords(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from topproducts.stack import cluster

    settings = cluster.client_settings(Settings(cluster_network="netns"))
    monkeypatch.setattr("topproducts.stack.netns.forwarding", lambda: False)
    cluster.check_exposure(settings)
    monkeypatch.setattr("topproducts.stack.netns.forwarding", lambda: True)
    with pytest.raises(ConfigError, match=r"refusing to start the cluster's mariadb on "
                                          r"10\.213\.0\.2 .* set TOPPRODUCTS_KAFKA_SASL_PASSWORD"):
        cluster.check_exposure(settings)
    cluster.check_exposure(settings.replace(kafka_sasl_password="k", cassandra_password="c",
                                            mysql_password="m"))
