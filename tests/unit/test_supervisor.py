"""The one process supervisor, with real processes: ``sleep``, a tiny HTTP server, a Python
that dies at once. No mocks: pid files, logs, ports and signals are the real ones."""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from topproducts.errors import StackError
from topproducts.stack import process
from topproducts.stack.supervisor import Supervised, others


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_answer(port: int) -> str | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
        return f"HTTP {response.status}"


def http_server(tmp_path: Path, port: int, **kwargs: object) -> Supervised:
    return Supervised(
        name="web", pid_file=tmp_path / "run" / "web.pid", log_file=tmp_path / "logs" / "web.log",
        command=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=tmp_path, marker="http.server", ports=[("127.0.0.1", port)],
        probe=lambda: http_answer(port), start_timeout=20, poll=0.2, stop_timeout=10,
        **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def stopper() -> Iterator[list[Supervised]]:
    """Whatever a test registers here is stopped afterwards, pass or fail."""
    started: list[Supervised] = []
    yield started
    for sup in started:
        sup.stop(timeout=5)


def test_start_waits_for_the_probe_then_status_and_stop(tmp_path: Path,
                                                        stopper: list[Supervised]) -> None:
    port = free_port()
    web = http_server(tmp_path, port, env={"GREETING": "hello"})
    stopper.append(web)
    assert web.status().state == "stopped"
    said: list[str] = []
    started = web.start(lambda name, msg: said.append(f"{name}: {msg}"))
    assert started.fresh and started.answer == "HTTP 200"
    assert web.pid_file.read_text().strip() == str(started.pid)
    assert "http.server" in process.command_line(started.pid)
    assert b"GREETING=hello" in Path(f"/proc/{started.pid}/environ").read_bytes()
    assert said == [f"web: started (pid {started.pid}), waiting for it to answer"]
    assert "start: " in web.log_file.read_text()  # the spawn's header line

    status = web.status()
    assert (status.state, status.pid, status.answer) == ("running", started.pid, "HTTP 200")

    again = web.start()  # idempotent: the running process is left alone
    assert (again.pid, again.fresh) == (started.pid, False)

    stopped = web.stop()
    assert stopped is not None and stopped.pid == started.pid and stopped.graceful
    assert not process.is_alive(started.pid)
    assert not web.pid_file.exists()
    assert not process.port_open("127.0.0.1", port)
    assert web.stop() is None
    assert web.status().state == "stopped"


def test_start_refuses_a_port_taken_by_another_process_and_names_it(
        tmp_path: Path, stopper: list[Supervised]) -> None:
    port = free_port()
    squatter = http_server(tmp_path / "other", port)
    stopper.append(squatter)
    squatter_pid = squatter.start().pid
    web = http_server(tmp_path, port, port_hint="set WEB_PORT")
    started = time.monotonic()
    with pytest.raises(StackError) as raised:
        web.start()
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert message.startswith(f"web: port 127.0.0.1:{port} is already taken by pid "
                              f"{squatter_pid} (")
    assert "http.server" in message and message.endswith("; set WEB_PORT")
    assert not web.pid_file.exists()
    # someone else answers on our port: status calls it foreign
    assert web.status().state == "foreign"


def test_a_process_that_dies_during_start_up_fails_fast_with_its_log(tmp_path: Path) -> None:
    doomed = Supervised(
        name="doomed", label="the doomed job", pid_file=tmp_path / "doomed.pid",
        log_file=tmp_path / "doomed.log",
        command=[sys.executable, "-c", "import sys; print('no config found'); sys.exit(3)"],
        probe=lambda: None, start_timeout=60, poll=0.2)
    started = time.monotonic()
    with pytest.raises(StackError) as raised:
        doomed.start()
    assert time.monotonic() - started < 10
    assert str(raised.value).startswith(
        f"the doomed job exited during start-up; last lines of {doomed.log_file}:")
    assert "no config found" in str(raised.value)
    assert not doomed.pid_file.exists()


def test_without_a_probe_start_watches_for_an_early_death(tmp_path: Path,
                                                          stopper: list[Supervised]) -> None:
    dies = Supervised(name="dies", pid_file=tmp_path / "dies.pid", log_file=tmp_path / "d.log",
                      command=[sys.executable, "-c", "import time; time.sleep(0.3)"], grace=5)
    with pytest.raises(StackError, match="dies exited during start-up"):
        dies.start()
    sleeper = Supervised(name="sleeper", pid_file=tmp_path / "sleeper.pid",
                         log_file=tmp_path / "sleeper.log", command=["sleep", "60"],
                         marker="sleep", grace=0.5)
    stopper.append(sleeper)
    began = time.monotonic()
    started = sleeper.start()
    assert 0.5 <= time.monotonic() - began < 5
    assert started.answer is None and process.is_alive(started.pid)
    assert sleeper.status().state == "starting"  # runs; no probe to say it answers


def test_a_probe_that_never_answers_times_out_with_the_reason(
        tmp_path: Path, stopper: list[Supervised]) -> None:
    def refuse() -> str:
        raise ConnectionRefusedError("nothing on 127.0.0.1:1\nsecond line")

    mute = Supervised(name="mute", pid_file=tmp_path / "mute.pid", log_file=tmp_path / "m.log",
                      command=["sleep", "60"], probe=refuse, start_timeout=1, poll=0.2)
    stopper.append(mute)
    with pytest.raises(StackError, match=r"mute did not answer within 1s \(nothing on "
                                         r"127\.0\.0\.1:1\); last lines of"):
        mute.start()
    status = mute.status()
    assert status.state == "not answering" and status.error == "nothing on 127.0.0.1:1"


def test_setup_runs_until_it_succeeds_before_the_probe(tmp_path: Path,
                                                       stopper: list[Supervised]) -> None:
    calls: list[str] = []

    def setup() -> bool:
        calls.append("setup")
        return len(calls) >= 3  # "not ready for it" twice

    def probe() -> str:
        calls.append("probe")
        return "ready"

    sup = Supervised(name="s", pid_file=tmp_path / "s.pid", log_file=tmp_path / "s.log",
                     command=["sleep", "60"], setup=setup, probe=probe, poll=0.1)
    stopper.append(sup)
    assert sup.start().answer == "ready"
    assert calls == ["setup", "setup", "setup", "probe"]


def test_a_recycled_pid_is_not_ours(tmp_path: Path, stopper: list[Supervised]) -> None:
    """A pid file naming a live process whose command line lacks the marker is stale."""
    sleeper = Supervised(name="sleeper", pid_file=tmp_path / "a.pid", log_file=tmp_path / "a.log",
                         command=["sleep", "60"])
    stopper.append(sleeper)
    pid = sleeper.start().pid
    other = Supervised(name="job", pid_file=tmp_path / "b.pid", log_file=tmp_path / "b.log",
                       marker="streaming.job")
    other.pid_file.write_text(f"{pid}\n")
    assert other.pid() is None and not other.pid_file.exists()
    assert other.stop() is None
    assert process.is_alive(pid)  # not ours: left alone


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = Supervised(
        name="stubborn", pid_file=tmp_path / "st.pid", log_file=tmp_path / "st.log",
        command=[sys.executable, "-c",
                 "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                 "print('up', flush=True); time.sleep(60)"],
        grace=0.5, stop_timeout=1)
    pid = stubborn.start().pid
    stopped = stubborn.stop()
    assert stopped is not None and not stopped.graceful
    assert not process.is_alive(pid) and not stubborn.pid_file.exists()


def test_term_group_false_signals_only_the_leader_which_stops_its_children(
        tmp_path: Path) -> None:
    """As the stream's driver stops its JVM: the child ignores SIGTERM, the leader ends it."""
    script = (
        "import signal, subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "print(child.pid, flush=True)\n"
        "def bye(*_):\n"
        "    child.kill(); child.wait(); print('clean stop', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "time.sleep(60)\n")
    leader = Supervised(name="leader", pid_file=tmp_path / "l.pid", log_file=tmp_path / "l.log",
                        command=[sys.executable, "-c", script], grace=1.0, term_group=False,
                        stop_timeout=10)
    leader.start()
    child = int(leader.log_file.read_text().split()[-1])
    assert process.is_alive(child)
    stopped = leader.stop()
    assert stopped is not None and stopped.graceful
    assert "clean stop" in leader.log_file.read_text()
    assert process.wait_gone(child, 5)


def test_kill_is_a_crash_and_others_lists_what_runs(tmp_path: Path,
                                                    stopper: list[Supervised]) -> None:
    run, logs = tmp_path / "run", tmp_path / "logs"
    mine = Supervised(name="mine", pid_file=run / "mine.pid", log_file=logs / "mine.log",
                      command=["sleep", "60"])
    theirs = Supervised(name="theirs", pid_file=run / "theirs.pid",
                        log_file=logs / "theirs.log", command=["sleep", "60"])
    stopper.extend([mine, theirs])
    mine.start()
    theirs_pid = theirs.start().pid
    (run / "gone.pid").write_text("999999999\n")  # stale: ignored and removed
    found = others(run, logs, owned=[mine.pid_file])
    assert [(o.name, o.pid(), o.log_file) for o in found] == [
        ("theirs", theirs_pid, logs / "theirs.log")]
    assert not (run / "gone.pid").exists()
    assert theirs.kill() == theirs_pid
    assert not process.is_alive(theirs_pid)
    assert theirs.pid() is None and others(run, logs, owned=[mine.pid_file]) == []
