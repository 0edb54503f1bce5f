"""Run the Flink SQL peer (:mod:`bench.peers.flink.job`) on a preloaded topic and check it.

    from bench.peers.flink.runner import run_peer
    figures = run_peer(settings, topic, preload_report)

Installs Flink into ``<state_dir>/flink`` first (``infra/flink/install.sh``: its own venv and
the Kafka connector's jar; nothing when it is there already). The job runs as its own
process (Python, and the JVM of its local mini-cluster, ``-Xmx2g``) and drains the topic from
offset 0 to the end offsets at its start; this module times it from the process start and
from the job's submission, reads the CPU time and the peak memory of both processes before
they exit, then reads the two output topics back and compares the all-time totals and
boards with the preload's independent totals (:mod:`bench.peers.compare`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.baselines import _assigned_consumer, _caught_up, _tree, cpu_seconds, peak_rss_mib
from bench.drain_data import PreloadReport, variant_info
from bench.peers.compare import (
    GRANULARITIES,
    METRICS,
    Amounts,
    Key,
    WindowTotals,
    board_problems,
    expected_totals,
    ranked,
    total_differences,
    window_differences,
)
from topproducts import kafka_io
from topproducts.leaderboards.ranking import parse_duration
from topproducts.settings import REPO_ROOT, Settings, get_settings

INSTALL = REPO_ROOT / "infra" / "flink" / "install.sh"
JOB = Path(__file__).with_name("job.py")
RESULT = "FLINK-PEER-RESULT "  # the job's last line on stdout (a bounded run has ended)
SUBMITTED = "FLINK-PEER-SUBMITTED "  # the job runs
# 1 GiB is too small for the job's heap state at 1M events (measured at 200k: old generation
# 79% full, 135 s of GC in 4 min); the stream's JVM has 1 GiB and its driver keeps state too
HEAP = "-Xmx2g"
# One task slot: on these 2 cores, parallelism 1 drained 300k events 1.09-1.22x faster with
# 0.82-0.91x the CPU of parallelism 2 (alternating, 2026-12-06), and beside the load side of
# the latency run it let the producer place 279 orders/s of 300 asked instead of 148.
PARALLELISM = 1


def flink_dir() -> Path:
    """``<state_dir>/flink`` of the stack's settings (a benchmark's isolated settings have a
    throwaway state folder: Flink is installed once, beside the Airflow venvs)."""
    return get_settings().state_dir / "flink"


def install() -> Path:
    """Install (or find) Flink's venv and connector; returns the folder."""
    folder = flink_dir()
    subprocess.run(["bash", str(INSTALL), str(folder)], check=True)
    return folder


def read_upserts(settings: Settings, topic: str) -> dict[bytes, Any]:
    """The last value of every key of an upsert topic (a tombstone removes the key)."""
    consumer, ends = _assigned_consumer(settings, topic)
    latest: dict[bytes, Any] = {}
    try:
        while any(ends.values()):
            batch = consumer.consume(num_messages=10_000, timeout=1.0)
            for msg in batch:
                if msg.error() is not None:
                    continue
                key, value = msg.key() or b"", msg.value()
                if value is None:
                    latest.pop(key, None)
                else:
                    latest[key] = value
            if batch and _caught_up(consumer, topic, ends):
                break
    finally:
        consumer.close()
    return {k: json.loads(v, parse_float=Decimal) for k, v in latest.items()}


def check(settings: Settings, out: str, loaded: PreloadReport, top_n: int,
          windows: WindowTotals | None = None) -> tuple[list[str], int, int]:
    """Compare the peer's all-time totals and boards with the preload's, and its windowed
    variant totals with ``windows`` (the stream's, when given): (problems, rows of totals
    read, rows of boards read)."""
    want = expected_totals(loaded.totals, lambda v: (variant_info(v).product_id,
                                                     variant_info(v).material))
    totals = read_upserts(settings, f"{out}.totals")
    got: dict[Key, Amounts] = {
        (r["granularity"], r["scope"], r["item"]): (r["quantity"], Decimal(r["revenue"]))
        for r in totals.values() if r["win"] == "all"}
    problems = total_differences(got, want)
    if windows is not None:
        windowed: dict[tuple[str, int], dict[str, Amounts]] = defaultdict(dict)
        for r in totals.values():
            if r["win"] != "all" and r["granularity"] == "variant":
                windowed[(r["scope"], int(r["win"]))][r["item"]] = (r["quantity"],
                                                                    Decimal(r["revenue"]))
        problems += window_differences(windowed, windows)
    boards = read_upserts(settings, f"{out}.boards")
    rows: dict[tuple[str, str, str], list[tuple[int, Decimal, str]]] = defaultdict(list)
    for r in boards.values():
        if r["win"] == "all":
            rows[(r["granularity"], r["metric"], r["scope"])].append(
                (r["quantity"], Decimal(r["revenue"]), r["item"]))
    entries = {key: ranked(found, key[1]) for key, found in rows.items()}
    by_board: dict[tuple[str, str], dict[str, Amounts]] = defaultdict(dict)
    for (granularity, scope, item), amounts in want.items():
        by_board[(granularity, scope)][item] = amounts
    for (granularity, scope), items in sorted(by_board.items()):
        for metric in METRICS:
            for p in board_problems(entries.get((granularity, metric, scope), []), items,
                                    metric, top_n):
                problems.append(f"board {granularity}/{metric}/{scope}: {p}")
    assert set(GRANULARITIES) >= {g for g, _ in by_board}
    return problems, len(totals), len(boards)


def _command(settings: Settings, folder: Path, topic: str, out: str, work: Path,
             parallelism: int, top_n: int, extra: tuple[str, ...]) -> list[str]:
    """The job's command line; the windows are the settings' (the project's rule)."""
    duration = int(parse_duration(settings.window_duration).total_seconds())
    slide = int(parse_duration(settings.window_slide).total_seconds())
    return [str(folder / "venv" / "bin" / "python"), str(JOB),
            "--bootstrap", settings.kafka_bootstrap, "--topic", topic, "--out", out,
            "--checkpoints", str(work / "checkpoints"),
            "--classpath", str(folder / "classpath.txt"),
            "--parallelism", str(parallelism), "--top-n", str(top_n),
            "--duration", str(duration), "--slide", str(slide), *extra]


def _kill_tree(proc: subprocess.Popen[str]) -> None:
    """Kill the job's process and its JVM (a descendant, which holds the pipes too: killing
    the Python process alone could leave the JVM running and the output never ending)."""
    if proc.poll() is None:
        for pid in reversed(_tree(proc.pid)):  # the JVM first
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    proc.wait()


def _until(proc: subprocess.Popen[str], log: Any, marker: str, timeout: float
           ) -> dict[str, float] | None:
    """Copy the job's stdout to ``log`` until the line starting with ``marker``: its JSON
    (None when the job ended first or ``timeout`` passed: then it is killed)."""
    assert proc.stdout is not None
    found: dict[str, float] | None = None
    deadline = threading.Timer(timeout, _kill_tree, [proc])  # a silent job cannot hang us
    deadline.start()
    try:
        for line in proc.stdout:
            if line.startswith(marker):
                found = json.loads(line[len(marker):])
                break
            log.write(line)
    finally:
        deadline.cancel()
        if found is None:  # too slow, failed or interrupted: never leave it running
            _kill_tree(proc)
    return found


def _failed(log_path: Path) -> RuntimeError:
    tail = log_path.read_text().strip().splitlines()[-5:]
    return RuntimeError(f"the Flink peer ended without a result; see {log_path}: "
                        + " | ".join(tail))


def _drop_topics(settings: Settings, out: str) -> None:
    admin = kafka_io.admin(settings)
    for future in admin.delete_topics([f"{out}.totals", f"{out}.boards"]).values():
        try:
            future.result(timeout=30)
        except Exception as exc:  # a missing topic: nothing to delete
            print(f"  (deleting {out}'s topics: {exc})", file=sys.stderr)


@dataclass
class _Job:
    """A started job process (:func:`_launched`)."""

    proc: subprocess.Popen[str]
    out: str  # the prefix of its output topics
    log: Any  # its log, open for writing
    log_path: Path
    started: float  # time.time() just before the process started

    def wait_for(self, marker: str, timeout: float) -> dict[str, float]:
        """The JSON of the job's ``marker`` line; the job's failure otherwise."""
        found = _until(self.proc, self.log, marker, timeout)
        if found is None:
            raise _failed(self.log_path)
        return found


@contextmanager
def _launched(settings: Settings, topic: str, parallelism: int, top_n: int | None,
              extra: tuple[str, ...], keep_log: bool) -> Iterator[_Job]:
    """The job started on ``topic`` with its two output topics; afterwards it is killed if
    still running, its topics are dropped, and its files removed (the log is kept when
    ``keep_log`` or the block failed)."""
    folder = install()
    out = f"{settings.kafka_topic_prefix}-flink-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="flink-peer-"))
    kafka_io.ensure_topics(settings, [f"{out}.totals", f"{out}.boards"])
    cmd = _command(settings, folder, topic, out, work, parallelism, top_n or settings.top_n,
                   extra)
    env = {**os.environ, "JVM_ARGS": HEAP, "PYTHONUNBUFFERED": "1"}
    proc: subprocess.Popen[str] | None = None
    failed = True
    try:
        with open(work / "job.log", "w") as log:
            try:
                started = time.time()
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=log, text=True, env=env, cwd=work)
                yield _Job(proc, out, log, work / "job.log", started)
                failed = False
            finally:  # before the log closes: what copies the job's output into it ends
                if proc is not None:
                    _kill_tree(proc)
    finally:
        _drop_topics(settings, out)
        shutil.rmtree(work / "checkpoints" if keep_log or failed else work,
                      ignore_errors=True)


@dataclass
class RunningPeer:
    """A started, unbounded peer job (:func:`running`)."""

    pid: int  # the job's Python process; its JVM is a descendant
    out: str  # the prefix of its output topics
    log: Path


@contextmanager
def running(settings: Settings, topic: str, parallelism: int = PARALLELISM,
            top_n: int | None = None, extra: tuple[str, ...] = (), timeout: float = 300.0
            ) -> Iterator[RunningPeer]:
    """The peer job reading ``topic`` from its start and on (``--unbounded``), for as long as
    the block runs; then it is stopped and its topics are dropped (its log is kept).
    ``extra`` goes to the job (``--mini-batch-ms 200 ...``)."""
    with _launched(settings, topic, parallelism, top_n, ("--unbounded", *extra),
                   keep_log=True) as job:
        job.wait_for(SUBMITTED, timeout)
        # the rest of its output goes on to the log (a full pipe would block it)
        threading.Thread(target=shutil.copyfileobj, args=(job.proc.stdout, job.log),
                         daemon=True).start()
        yield RunningPeer(job.proc.pid, job.out, job.log_path)


def run_peer(settings: Settings, topic: str, loaded: PreloadReport,
             parallelism: int = PARALLELISM,
             top_n: int | None = None, timeout: float = 1800.0,
             extra: tuple[str, ...] = (), windows: WindowTotals | None = None
             ) -> dict[str, Any]:
    """Drain ``topic`` with the Flink job; its figures (``peer_flink_*``) and exactness
    (the all-time totals and boards against the preload's, the windowed variant totals
    against ``windows`` when given)."""
    top_n = top_n or settings.top_n
    with _launched(settings, topic, parallelism, top_n, extra, keep_log=False) as job:
        assert job.proc.stdin is not None
        job.wait_for(SUBMITTED, timeout)
        result = job.wait_for(RESULT, timeout)
        # read before it exits (it waits for a line on stdin)
        cpu, peak = cpu_seconds(job.proc.pid), peak_rss_mib(job.proc.pid)
        job.proc.stdin.write("\n")
        job.proc.stdin.close()
        job.proc.wait(timeout=60)
        problems, total_rows, board_rows = check(settings, job.out, loaded, top_n, windows)
    events = loaded.events
    from_start = result["finished"] - job.started
    from_submit = result["finished"] - result["submitted"]
    return {
        "peer_flink_events_per_s": round(events / from_start),
        "peer_flink_events_per_s_after_submit": round(events / from_submit),
        "peer_flink_seconds": round(from_start, 1),
        "peer_flink_startup_s": round(result["submitted"] - job.started, 1),
        "peer_flink_cpu_s": round(cpu, 1),
        "peer_flink_cpu_s_per_million": round(cpu / events * 1e6, 1),
        "peer_flink_peak_rss_mib": round(peak),
        "peer_flink_exact": not problems,
        "peer_flink_windows_checked": len(windows) if windows is not None else 0,
        "peer_flink_problems": problems[:10],
        "peer_flink_totals_rows": total_rows,
        "peer_flink_board_rows": board_rows,
    }


def main() -> None:
    """``python -m bench.peers.flink.runner [--events N]``: the peer alone on a throwaway topic."""
    import argparse

    from bench.drain_data import preload
    from topproducts.errors import TopProductsError

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--parallelism", type=int, default=PARALLELISM)
    args, extra = ap.parse_known_args()  # the rest goes to the job (--mini-batch-ms ...)
    if args.events < 1 or args.parallelism < 1:
        raise SystemExit("error: --events and --parallelism must be at least 1")
    settings = get_settings().replace(kafka_topic_prefix="peer" + uuid.uuid4().hex[:8])
    topic = settings.topic("orders")
    try:
        loaded = preload(settings, topic, args.events)
        print(f"preloaded {loaded.events:,} events in {loaded.seconds:.1f}s")
        figures = run_peer(settings, topic, loaded, parallelism=args.parallelism,
                           extra=tuple(extra))
        print(json.dumps(figures, indent=2, default=str))
    except (TopProductsError, RuntimeError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"error: {exc}") from None
    finally:
        admin = kafka_io.admin(settings)
        for future in admin.delete_topics([topic]).values():
            future.result(timeout=30)


if __name__ == "__main__":
    main()
