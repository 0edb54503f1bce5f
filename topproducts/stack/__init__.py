"""The local stack: start, stop and inspect MariaDB, Kafka and Cassandra on loopback.

Each service is a process of the one supervisor (:mod:`topproducts.stack.supervisor`).

``up`` is idempotent (a running service is left alone) and waits until each
service answers a real request. A service that cannot start fails fast with a
one-line reason naming it, followed by the last lines of its log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from topproducts.errors import StackError
from topproducts.settings import Settings
from topproducts.stack import supervisor
from topproducts.stack.services import SERVICES, Service
from topproducts.stack.supervisor import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceStatus(supervisor.Status):
    """A service's :class:`~topproducts.stack.supervisor.Status` and its client address."""

    address: str = ""


def services(settings: Settings, names: Iterable[str] | None = None) -> list[Service]:
    chosen = [cls(settings) for cls in SERVICES]
    if names:
        wanted = set(names)
        unknown = wanted - {s.name for s in chosen}
        if unknown:
            known = ", ".join(s.name for s in chosen)
            raise StackError(f"unknown service {sorted(unknown)[0]!r}; known: {known}")
        chosen = [s for s in chosen if s.name in wanted]
    return chosen


def status(settings: Settings, names: Iterable[str] | None = None) -> list[ServiceStatus]:
    return [service_status(svc) for svc in services(settings, names)]


def service_status(svc: Service) -> ServiceStatus:
    """Whether one service runs (pid file) and answers (probe)."""
    found = svc.supervised().status()
    return ServiceStatus(svc.name, found.pid, found.answer, found.error, svc.log_file,
                         svc.address)


def other_processes(settings: Settings) -> dict[str, int]:
    """Our other background processes (the stream, Dagster, Airflow, ...): name -> pid,
    from the pid files in the run folder that no service owns."""
    return {sup.name: sup.pid() or 0 for sup in _others(settings)}


def _others(settings: Settings, term_group: bool = True) -> list[supervisor.Supervised]:
    owned = [svc.pid_file for svc in services(settings)]
    return supervisor.others(settings.run_dir, settings.logs_dir, owned, term_group)


def start(svc: Service, progress: Progress | None = None) -> ServiceStatus:
    """Start one service unless it runs already; wait until it answers."""
    started = svc.supervised().start(progress)
    return ServiceStatus(svc.name, started.pid, started.answer, None, svc.log_file,
                         svc.address)


def up(settings: Settings, names: Iterable[str] | None = None,
       progress: Progress | None = None) -> list[ServiceStatus]:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return [start(svc, progress) for svc in services(settings, names)]


def down(settings: Settings, names: Iterable[str] | None = None,
         progress: Progress | None = None) -> list[str]:
    """Stop what we started and return the names stopped.

    Without ``names``: first every other background process of ours that has a pid
    file in the run folder (the stream, Dagster, Airflow, ...), then the services in
    reverse order of their start, so nothing of ours is left running.
    """
    say = progress or (lambda name, msg: log.info("%s: %s", name, msg))
    stopped = []
    chosen = services(settings, names)
    if not names:
        for other in _others(settings):
            if other.stop(timeout=60, progress=say):
                stopped.append(other.name)
    for svc in reversed(chosen):
        if stop_service(svc, say):
            stopped.append(svc.name)
    return stopped


def stop_service(svc: Service, say: Progress) -> bool:
    """Stop one service we started (SIGTERM, SIGKILL after 60 s); False if it was not running."""
    return svc.supervised().stop(progress=say) is not None
