"""Leaving loopback safely: no server listens beyond this machine on a local default secret.

The local defaults (``TOPPRODUCTS_API_KEY=local-dev-key``, ``TOPPRODUCTS_MYSQL_PASSWORD=
topproducts``) are in the repository for anyone to read. They are fine on 127.0.0.1;
a command that would bind elsewhere calls :func:`check_bind` first and stops with one
line naming the variable to set.
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


def default_secrets(settings: Settings) -> list[str]:
    """The variables of :data:`SECRETS` still at their local default value."""
    defaults = Settings()
    return [PREFIX + name.upper() for name in SECRETS
            if getattr(settings, name) == getattr(defaults, name)]


def check_bind(settings: Settings, host: str, what: str = "the API") -> None:
    """Refuse to serve ``what`` on a non-loopback ``host`` while a secret is the default."""
    if is_loopback(host):
        return
    unset = default_secrets(settings)
    if unset:
        raise ConfigError(f"refusing to serve {what} on {host} (not loopback) while "
                          f"{' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} still "
                          f"the local default: set {unset[0]}")
