"""One supervisor for every background process of ours: the local services, the cluster's
nodes, the Spark streaming job, Dagster's webserver and daemon, Airflow's scheduler and
webserver.

A :class:`Supervised` says what to run (command, environment, folder), where its pid file and
log are, what its command line must contain (a recycled pid is not ours), which ports it
takes, and how to tell it is ready (a probe making a real request). Then:

- :meth:`Supervised.start` refuses when a port is taken by another process (naming it),
  spawns the command detached with its output appended to the log, and waits until the probe
  answers, failing fast with the log's last lines if the process dies first; a process that
  already runs is left alone (and waited for);
- :meth:`Supervised.stop` SIGTERMs it (its process group, or only the leader when the leader
  stops its children itself), SIGKILLs the group after a timeout, removes the pid file;
- :meth:`Supervised.status` says whether it runs (pid file) and answers (probe).

Nothing stays resident: the pid file is the state, so any later command (``stack down``,
``ui --stop``) finds what an earlier one started. Process primitives are in
:mod:`topproducts.stack.process`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from topproducts.errors import StackError
from topproducts.stack import process

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]  # (process name, message)
Probe = Callable[[], "str | None"]  # a short answer when ready; None or an exception if not


@dataclass(frozen=True)
class Status:
    """What :meth:`Supervised.status` found."""

    name: str
    pid: int | None
    answer: str | None  # what the probe said, None if it did not answer
    error: str | None  # why the probe did not answer
    log_file: Path

    @property
    def state(self) -> str:
        if self.pid and self.answer:
            return "running"
        if self.pid:
            return "starting" if not self.error else "not answering"
        if self.answer:
            return "foreign"  # answers, but not a process we started
        return "stopped"


@dataclass(frozen=True)
class Started:
    pid: int
    fresh: bool  # False: it was running already
    answer: str | None  # the probe's answer (None without a probe)


@dataclass(frozen=True)
class Stopped:
    pid: int
    graceful: bool  # False: SIGKILLed after the timeout


@dataclass
class Supervised:
    """One background process with a pid file and a log (see the module's doc)."""

    name: str
    pid_file: Path
    log_file: Path
    # What to run; a callable is called at start, after ``prepare`` (it may need its files).
    command: Sequence[str] | Callable[[], Sequence[str]] = ()
    env: Mapping[str, str] | Callable[[], Mapping[str, str]] = field(default_factory=dict)
    cwd: Path | None = None
    # Text the process's command line must contain for the pid file to be believed.
    marker: str | None = None
    # (host, port) pairs the process listens on: taken by someone else means no start.
    ports: Sequence[tuple[str, int]] = ()
    port_hint: str = ""  # appended to the "port taken" error, e.g. which variable moves it
    prepare: Callable[[], None] | None = None  # before spawning: folders, configs (idempotent)
    # After spawning, before probing: set-up that needs the running server (users, databases);
    # raise or return False while the server is not ready for it, True once done.
    setup: Callable[[], bool] | None = None
    probe: Probe | None = None  # readiness and status; without one, see ``grace``
    label: str = ""  # how messages name it ("the stream"); default: the name
    start_timeout: float = 60.0  # how long start() waits for the probe to answer
    grace: float = 0.0  # without a probe: how long start() watches for an early death
    poll: float = 1.0
    stop_timeout: float = 30.0
    term_group: bool = True  # SIGTERM the whole group (False: the leader stops its children)

    @property
    def title(self) -> str:
        return self.label or self.name

    # State -------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The pid if it runs (a stale or recycled pid file is removed)."""
        return process.read_pid(self.pid_file, expect=self.marker)

    def ask(self) -> tuple[str | None, str | None]:
        """(answer, None) if the probe answers, else (None, the first line of why not)."""
        if self.probe is None:
            return None, None
        try:
            answer = self.probe()
        except Exception as exc:  # any failure means "not answering"; keep the reason
            text = str(exc)
            return None, text.splitlines()[0] if text else type(exc).__name__
        return (answer, None) if answer else (None, "no answer")

    def status(self) -> Status:
        """Whether it runs (pid file) and answers (probe; asked only if it runs or its
        first port is open, so a foreign server on our port shows up as ``foreign``)."""
        pid = self.pid()
        asked = pid is not None or (self.ports and process.port_open(*self.ports[0]))
        answer, error = self.ask() if asked else (None, None)
        return Status(self.name, pid, answer, error, self.log_file)

    # Start -------------------------------------------------------------------------------

    def start(self, progress: Progress | None = None) -> Started:
        """Start it unless it runs; wait until it is ready (see the module's doc)."""
        say = progress or _log
        pid = self.pid()
        fresh = pid is None
        if pid is None:
            self.check_ports()
            if self.prepare is not None:
                say(self.name, "preparing")
                self.prepare()
            command = self.command() if callable(self.command) else self.command
            env = self.env() if callable(self.env) else self.env
            pid = process.spawn(command, self.log_file, self.pid_file, env=env, cwd=self.cwd)
            say(self.name, f"started (pid {pid})"
                + (", waiting for it to answer" if self.probe else ""))
        answer = self.wait_ready(pid)
        if not fresh:
            say(self.name, "already running")
        return Started(pid, fresh, answer)

    def check_ports(self) -> None:
        for host, port in self.ports:
            if process.port_open(host, port):
                owner = process.listener_pid(port)
                who = process.describe_pid(owner) if owner else "another process"
                hint = f"; {self.port_hint}" if self.port_hint else ""
                raise StackError(f"{self.name}: port {host}:{port} is already taken by {who}"
                                 + hint)

    def wait_ready(self, pid: int) -> str | None:
        """Wait until ``setup`` is done and the probe answers (without a probe: ``grace``
        seconds of life); raise with the log's last lines if the process dies first."""
        timeout = self.start_timeout if self.probe else self.grace
        deadline = time.monotonic() + timeout
        set_up = self.setup is None
        error: str | None = "no answer"
        while True:
            if process.exited(pid):
                self.pid_file.unlink(missing_ok=True)
                raise StackError(f"{self.title} exited during start-up; last lines of "
                                 f"{self.log_file}:\n" + process.tail(self.log_file, 15))
            if self.probe is None:
                if time.monotonic() >= deadline:
                    return None
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
                continue
            if not set_up:
                assert self.setup is not None  # set_up starts False only with a setup
                set_up = _try(self.setup)
                error = "setting up"
            if set_up:
                answer, error = self.ask()
                if answer:
                    return answer
            if time.monotonic() >= deadline:
                raise StackError(
                    f"{self.title} did not answer within {timeout:.0f}s ({error}); last lines "
                    f"of {self.log_file}:\n" + process.tail(self.log_file, 15))
            time.sleep(self.poll if set_up else min(self.poll, 0.5))

    # Stop --------------------------------------------------------------------------------

    def stop(self, timeout: float | None = None, progress: Progress | None = None
             ) -> Stopped | None:
        """Stop it if it runs (SIGTERM, SIGKILL after ``timeout``); None if it did not."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return None
        timeout = self.stop_timeout if timeout is None else timeout
        if progress:
            progress(self.name, f"stopping pid {pid}")
        graceful = process.stop(pid, timeout, term_group=self.term_group)
        self.pid_file.unlink(missing_ok=True)
        if progress:
            progress(self.name, "stopped" if graceful
                     else f"killed (did not stop within {timeout:.0f}s)")
        return Stopped(pid, graceful)

    def kill(self) -> int | None:
        """``kill -9`` it and its process group, as a crash would; the pid file stays
        (stale, ignored) until the next start. Returns the pid, None if it did not run."""
        pid = self.pid()
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        process.wait_gone(pid, 30)
        return pid


def others(run_dir: Path, logs_dir: Path, owned: Iterable[Path] = (),
           term_group: bool = True) -> list[Supervised]:
    """Every running process with a pid file in ``run_dir`` other than ``owned`` ones (the
    stream, Dagster, Airflow, ... seen from the stack), as :class:`Supervised` to stop."""
    skip = set(owned)
    found = []
    for pid_file in sorted(run_dir.glob("*.pid")):
        if pid_file in skip:
            continue
        sup = Supervised(pid_file.stem, pid_file, logs_dir / f"{pid_file.stem}.log",
                         term_group=term_group)
        if sup.pid() is not None:
            found.append(sup)
    return found


def _try(step: Callable[[], bool]) -> bool:
    try:
        return bool(step())
    except Exception:  # the server is not ready for it yet
        return False


def _log(name: str, message: str) -> None:
    log.debug("%s: %s", name, message)
