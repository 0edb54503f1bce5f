"""The local stack: start, stop and inspect MariaDB, Kafka and Cassandra on loopback.

``up`` is idempotent (a running service is left alone) and waits until each
service answers a real request. A service that cannot start fails fast with a
one-line reason naming it, followed by the last lines of its log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from topproducts.errors import StackError
from topproducts.settings import Settings
from topproducts.stack import process
from topproducts.stack.services import SERVICES, Service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    pid: int | None
    answer: str | None  # what the probe said, None if it did not answer
    error: str | None
    log_file: str

    @property
    def state(self) -> str:
        if self.pid and self.answer:
            return "running"
        if self.pid:
            return "starting" if not self.error else "not answering"
        if self.answer:
            return "foreign"  # answers, but not a process we started
        return "stopped"


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


def _probe(service: Service) -> tuple[str | None, str | None]:
    try:
        return service.probe(), None
    except Exception as exc:  # any failure means "not answering"; keep the reason
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def status(settings: Settings, names: Iterable[str] | None = None) -> list[ServiceStatus]:
    return [service_status(svc) for svc in services(settings, names)]


def service_status(svc: Service) -> ServiceStatus:
    """Whether one service runs (pid file) and answers (probe)."""
    pid = process.read_pid(svc.pid_file)
    answer, error = _probe(svc) if pid or process.port_open(svc.host, svc.ports[0]) else (
        None, None)
    return ServiceStatus(svc.name, svc.address, pid, answer, error, str(svc.log_file))


def other_processes(settings: Settings) -> dict[str, int]:
    """Our other background processes (the stream, Dagster, Airflow, ...): name -> pid,
    from the pid files in the run folder that no service owns."""
    owned = {svc.pid_file for svc in services(settings)}
    result = {}
    for pid_file in sorted(settings.run_dir.glob("*.pid")):
        if pid_file in owned:
            continue
        pid = process.read_pid(pid_file)
        if pid is not None:
            result[pid_file.stem] = pid
    return result


Progress = Callable[[str, str], None]  # (service name, message)


def start(svc: Service, progress: Progress | None = None) -> ServiceStatus:
    """Start one service unless it runs already; wait until it answers."""
    say = progress or (lambda name, msg: log.info("%s: %s", name, msg))
    pid = process.read_pid(svc.pid_file)
    if pid is None:
        for port in svc.ports:
            if process.port_open(svc.host, port):
                owner = process.listener_pid(port)
                who = process.describe_pid(owner) if owner else "another process"
                raise StackError(f"{svc.name}: port {svc.host}:{port} is already taken by {who}")
        say(svc.name, "preparing")
        svc.prepare()
        pid = process.spawn(svc.command(), svc.log_file, svc.pid_file, env=svc.env())
        say(svc.name, f"started (pid {pid}), waiting for it to answer")
        fresh = True
    else:
        fresh = False
    answer = _wait_answer(svc, pid, say)
    if not fresh:
        say(svc.name, "already running")
    return ServiceStatus(svc.name, svc.address, pid, answer, None, str(svc.log_file))


def _wait_answer(svc: Service, pid: int, say: Progress) -> str:
    deadline = time.monotonic() + svc.start_timeout
    last_error = ""
    bootstrapped = False
    while time.monotonic() < deadline:
        if not process.is_alive(pid):
            svc.pid_file.unlink(missing_ok=True)
            raise StackError(
                f"{svc.name} exited during start-up; last lines of {svc.log_file}:\n"
                + process.tail(svc.log_file, 15)
            )
        if not bootstrapped:
            bootstrapped = _try(svc.bootstrap)
            if not bootstrapped:
                time.sleep(0.5)
                continue
        answer, last_error = _probe(svc)
        if answer:
            return answer
        time.sleep(1.0)
    raise StackError(
        f"{svc.name} did not answer within {svc.start_timeout:.0f}s ({last_error}); "
        f"last lines of {svc.log_file}:\n" + process.tail(svc.log_file, 15)
    )


def _try(step: Callable[[], bool]) -> bool:
    try:
        return step()
    except Exception:  # the server is not ready for it yet
        return False


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
        for name, pid in other_processes(settings).items():
            say(name, f"stopping pid {pid}")
            process.stop(pid, timeout=60)
            (settings.run_dir / f"{name}.pid").unlink(missing_ok=True)
            stopped.append(name)
    for svc in reversed(chosen):
        if stop_service(svc, say):
            stopped.append(svc.name)
    return stopped


def stop_service(svc: Service, say: Progress) -> bool:
    """Stop one service we started (SIGTERM, SIGKILL after 60 s); False if it was not running."""
    pid = process.read_pid(svc.pid_file)
    if pid is None:
        return False
    say(svc.name, f"stopping pid {pid}")
    graceful = process.stop(pid, timeout=60)
    svc.pid_file.unlink(missing_ok=True)
    say(svc.name, "stopped" if graceful else "killed (did not stop within 60s)")
    return True
