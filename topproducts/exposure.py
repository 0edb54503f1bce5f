"""Leaving loopback safely: no server listens beyond this machine on a local default secret.

The local defaults (``TOPPRODUCTS_API_KEY=local-dev-key``, ``TOPPRODUCTS_MYSQL_PASSWORD=
topproducts``, the local cluster's Kafka and Cassandra password) are in the repository
for anyone to read. They are fine on 127.0.0.1, and on the local cluster's hosts (a
subnet on a bridge with no uplink, while the machine forwards nothing); a command that
would bind elsewhere calls :func:`check_bind` first and stops with one line naming the
variable to set.
"""

from __future__ import annotations

import ipaddress

from topproducts.errors import ConfigError
from topproducts.settings import PREFIX, Settings

# The secrets that guard a served process: anyone who reaches it gets what they open.
SECRETS = ("api_key", "mysql_password")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; any other name or address is not
    (``0.0.0.0`` and ``::`` listen on every interface)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def on_cluster_hosts(settings: Settings, host: str, forwarding: bool) -> bool:
    """True for an address of the local cluster's namespace hosts (``cluster_subnet``)
    while the machine does not forward packets (``forwarding``): no one else reaches it."""
    if settings.cluster_network != "netns" or forwarding:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")) in ipaddress.ip_network(
            settings.cluster_subnet)
    except ValueError:
        return False


def default_secrets(settings: Settings, names: tuple[str, ...] = SECRETS) -> list[str]:
    """The variables of ``names`` (:data:`SECRETS`) still at their local default value."""
    defaults = Settings()
    return [PREFIX + name.upper() for name in names
            if getattr(settings, name) == getattr(defaults, name)]


def check_bind(settings: Settings, host: str, what: str = "the API",
               names: tuple[str, ...] = SECRETS) -> None:
    """Refuse to serve ``what`` on a non-loopback ``host`` while a secret of ``names`` is
    the default (the local cluster's own hosts are private to this machine)."""
    from topproducts.stack.netns import forwarding

    if is_loopback(host) or on_cluster_hosts(settings, host, forwarding()):
        return
    unset = default_secrets(settings, names)
    if unset:
        raise ConfigError(f"refusing to serve {what} on {host} (not loopback) while "
                          f"{' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} still "
                          f"the local default: set {unset[0]}")
