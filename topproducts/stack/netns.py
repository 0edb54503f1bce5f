"""Hosts as Linux network namespaces: one network stack per host, on one machine.

A :class:`Network` is a plan (pure, :func:`plan`): a bridge the project creates, the
machine's own address on it (the *gateway*: ``cluster up`` probes the hosts from there;
nothing is forwarded, and no host has a default route, so no address leaves the
machine), and one :class:`Host` per name, each a namespace ``<prefix><name>`` joined to
the bridge by a veth pair ``<prefix>v<i>`` (bridge side) / ``eth0`` (host side), with its
own loopback: 127.0.0.1 inside a host is that host's, as on separate machines.

The adapter (:func:`ensure`, :func:`destroy`, :func:`leftovers`, :func:`cut`, :func:`heal`,
:func:`pids`) runs ``ip`` (iproute2) as root. Only names of the plan are ever touched:
other namespaces and links on the machine are not ours.

Where namespaces cannot be made, :func:`unavailable` says why in one line; a
:func:`loopback` plan then puts the hosts on loopback aliases (no namespace, no link).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from topproducts.errors import ConfigError, StackError

IFNAMSIZ = 15  # the longest interface name Linux takes
NETNS_DIR = Path("/var/run/netns")
_PREFIX = re.compile(r"[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class Host:
    """One host: its address and, on a namespace network, its namespace and link."""

    name: str
    address: str
    netns: str | None = None  # None: a loopback alias in the machine's own namespace
    link: str | None = None  # the bridge side of its veth pair

    def exec_prefix(self) -> list[str]:
        """What runs a command inside this host (nothing on a loopback alias)."""
        return [] if self.netns is None else ["ip", "netns", "exec", self.netns]


@dataclass(frozen=True)
class Network:
    """A plan of hosts; ``bridge`` is None on loopback aliases."""

    hosts: tuple[Host, ...]
    bridge: str | None = None
    gateway: str | None = None  # the machine's address on the bridge
    prefixlen: int = 32

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts)
        raise StackError(f"unknown host {name!r}; known: {known}")

    @property
    def namespaced(self) -> bool:
        return self.bridge is not None

    def by_name(self) -> dict[str, Host]:
        return {h.name: h for h in self.hosts}


def plan(names: Sequence[str], subnet: str, prefix: str) -> Network:
    """Namespace hosts ``names`` on ``subnet``: the first address is the gateway, the
    next ones the hosts', in order. Raises :class:`ConfigError` on a bad subnet or prefix."""
    try:
        net = ipaddress.IPv4Network(subnet)
    except ValueError as exc:
        raise ConfigError(f"TOPPRODUCTS_CLUSTER_SUBNET={subnet!r} is not an IPv4 network: "
                          f"{exc}") from None
    if not net.is_private or net.overlaps(ipaddress.IPv4Network("127.0.0.0/8")):
        raise ConfigError(f"TOPPRODUCTS_CLUSTER_SUBNET={subnet!r}: use a private, "
                          "non-loopback range (such as 10.213.0.0/24)")
    addresses = list(net.hosts())
    if len(addresses) < len(names) + 1:
        raise ConfigError(f"TOPPRODUCTS_CLUSTER_SUBNET={subnet!r} has {len(addresses)} "
                          f"addresses; {len(names) + 1} are needed")
    longest = f"{prefix}v{len(names) - 1}"
    if not _PREFIX.fullmatch(prefix) or len(f"{prefix}br") > IFNAMSIZ or len(longest) > IFNAMSIZ:
        raise ConfigError(f"TOPPRODUCTS_CLUSTER_NETNS_PREFIX={prefix!r}: lower-case letters, "
                          f"digits and '-', starting with a letter, at most "
                          f"{IFNAMSIZ - len(longest) + len(prefix)} characters")
    hosts = tuple(Host(name, str(addresses[i + 1]), f"{prefix}{name}", f"{prefix}v{i}")
                  for i, name in enumerate(names))
    return Network(hosts, bridge=f"{prefix}br", gateway=str(addresses[0]),
                   prefixlen=net.prefixlen)


def loopback(addresses: Mapping[str, str]) -> Network:
    """Hosts on loopback aliases of the machine's own namespace (the fallback)."""
    return Network(tuple(Host(name, address) for name, address in addresses.items()))


def setup_steps(network: Network, present: set[str]) -> list[list[str]]:
    """The ``ip`` commands that make what of ``network`` is missing (``present``: the
    namespaces and links that exist). Links are set up every time: a host cut off by a
    crashed run is joined again."""
    if network.bridge is None:
        return []
    steps: list[list[str]] = []
    if network.bridge not in present:
        steps += [["ip", "link", "add", network.bridge, "type", "bridge"],
                  ["ip", "addr", "add", f"{network.gateway}/{network.prefixlen}",
                   "dev", network.bridge]]
    steps.append(["ip", "link", "set", network.bridge, "up"])
    for host in network.hosts:
        assert host.netns is not None and host.link is not None
        if host.netns not in present:
            steps.append(["ip", "netns", "add", host.netns])
        if host.link not in present:
            steps += [
                ["ip", "link", "add", host.link, "type", "veth", "peer", "name", "eth0",
                 "netns", host.netns],
                ["ip", "-n", host.netns, "addr", "add", f"{host.address}/{network.prefixlen}",
                 "dev", "eth0"],
                ["ip", "link", "set", host.link, "master", network.bridge],
            ]
        steps += [["ip", "link", "set", host.link, "up"],
                  ["ip", "-n", host.netns, "link", "set", "lo", "up"],
                  ["ip", "-n", host.netns, "link", "set", "eth0", "up"]]
    return steps


# The adapter: iproute2, as root ------------------------------------------------------------


def unavailable() -> str | None:
    """Why hosts cannot be network namespaces here (None: they can)."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2; `make setup` installs it)"
    return None


def forwarding() -> bool:
    """Whether this machine forwards IPv4 packets between its interfaces (then a host's
    address could be reached from outside through a route someone adds)."""
    try:
        return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() != "0"
    except OSError:
        return True


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise StackError(f"`{' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def namespaces() -> set[str]:
    """Every network namespace of the machine (by name)."""
    return {line.split()[0] for line in _ip("ip", "netns", "list").stdout.splitlines()
            if line.strip()}


def links() -> set[str]:
    """Every link of the machine's own namespace (by name, without ``@peer``)."""
    out = _ip("ip", "-o", "link", "show").stdout
    return {line.split(":", 2)[1].strip().split("@")[0] for line in out.splitlines()}


def present(network: Network) -> set[str]:
    """Which of the plan's namespaces and links exist."""
    ours = {network.bridge, *(h.netns for h in network.hosts), *(h.link for h in network.hosts)}
    return (namespaces() | links()) & {n for n in ours if n}


def ensure(network: Network) -> None:
    """Make what is missing of ``network``; leave what exists (idempotent)."""
    for step in setup_steps(network, present(network)):
        _ip(*step)


def pids(host: Host) -> list[int]:
    """Every process running inside the host (none on a loopback alias: they are not
    told apart from the machine's)."""
    if host.netns is None or not (NETNS_DIR / host.netns).exists():
        return []
    out = _ip("ip", "netns", "pids", host.netns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_all(host: Host) -> list[int]:
    """``kill -9`` every process of the host at once, as a crash of its machine would."""
    found = pids(host)
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


def cut(host: Host) -> None:
    """Take the host off the network (its link down): its processes run on, unreachable."""
    if host.link is None:
        raise StackError(f"{host.name} is a loopback alias: it cannot be cut off")
    _ip("ip", "link", "set", host.link, "down")


def heal(host: Host) -> None:
    if host.link is None:
        raise StackError(f"{host.name} is a loopback alias: it cannot be cut off")
    _ip("ip", "link", "set", host.link, "up")


def destroy(network: Network, timeout: float = 30.0) -> list[str]:
    """Kill what still runs in the hosts, remove the namespaces and the bridge, wait until
    their links are gone. Returns what was removed."""
    if network.bridge is None:
        return []
    removed = []
    existing = present(network)
    for host in network.hosts:
        kill_all(host)
        if host.netns in existing:
            _ip("ip", "netns", "del", host.netns)
            removed.append(host.netns)
        if host.link in links():  # gone with its namespace, unless a process still held it
            _ip("ip", "link", "del", host.link, check=False)
    if network.bridge in existing:
        _ip("ip", "link", "del", network.bridge)
        removed.append(network.bridge)
    deadline = time.monotonic() + timeout
    while leftovers(network) and time.monotonic() < deadline:
        time.sleep(0.2)  # the kernel frees a namespace's links after its last process
    return removed


def leftovers(network: Network) -> list[str]:
    """What of ``network`` is still there: namespaces, links, processes in the hosts."""
    left = sorted(present(network))
    left += [f"pid {p} in {h.name}" for h in network.hosts for p in pids(h)]
    return left
