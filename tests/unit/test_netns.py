"""Hosts as network namespaces: the plan and the steps that make it (pure; issue 24)."""

import pytest

from topproducts.errors import ConfigError
from topproducts.stack import netns

NAMES = ("kafka-1", "cassandra-1", "app")


def test_plan_gives_each_host_a_namespace_a_link_and_an_address() -> None:
    net = netns.plan(NAMES, "10.9.0.0/24", "tp-")
    assert (net.bridge, net.gateway, net.prefixlen) == ("tp-br", "10.9.0.1", 24)
    assert [(h.name, h.address, h.netns, h.link) for h in net.hosts] == [
        ("kafka-1", "10.9.0.2", "tp-kafka-1", "tp-v0"),
        ("cassandra-1", "10.9.0.3", "tp-cassandra-1", "tp-v1"),
        ("app", "10.9.0.4", "tp-app", "tp-v2")]
    assert net.host("app").exec_prefix() == ["ip", "netns", "exec", "tp-app"]


@pytest.mark.parametrize(("subnet", "prefix", "error"), [
    ("10.9.0.0/30", "tp-", "has 2 addresses; 4 are needed"),
    ("8.8.8.0/24", "tp-", "private, non-loopback"),
    ("127.1.0.0/24", "tp-", "private, non-loopback"),
    ("not-a-net", "tp-", "is not an IPv4 network"),
    ("10.9.0.0/24", "TP_", "TOPPRODUCTS_CLUSTER_NETNS_PREFIX='TP_'"),
    ("10.9.0.0/24", "a-very-long-prefix-", "at most"),
])
def test_bad_subnet_or_prefix_is_one_line(subnet: str, prefix: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        netns.plan(NAMES, subnet, prefix)


def test_setup_makes_only_what_is_missing_and_joins_every_link() -> None:
    net = netns.plan(NAMES, "10.9.0.0/24", "tp-")
    fresh = netns.setup_steps(net, set())
    assert fresh[0] == ["ip", "link", "add", "tp-br", "type", "bridge"]
    assert ["ip", "netns", "add", "tp-app"] in fresh
    assert ["ip", "-n", "tp-app", "addr", "add", "10.9.0.4/24", "dev", "eth0"] in fresh
    everything = {"tp-br", *(h.netns for h in net.hosts), *(h.link for h in net.hosts)}
    again = netns.setup_steps(net, everything)  # a running cluster, maybe a host cut off
    assert not any(step[1:3] in (["link", "add"], ["netns", "add"]) for step in again)
    assert ["ip", "link", "set", "tp-v1", "up"] in again


def test_loopback_hosts_have_no_namespace_and_no_steps() -> None:
    net = netns.loopback({"kafka-1": "127.0.0.2", "app": "127.0.0.1"})
    assert not net.namespaced and net.host("kafka-1").exec_prefix() == []
    assert netns.setup_steps(net, set()) == []
