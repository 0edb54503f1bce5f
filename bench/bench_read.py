"""Benchmark the leaderboard read path: 20 concurrent clients reading top-10 boards.

    .venv/bin/python -m bench.bench_read [--clients 20] [--seconds 10] [--workers 1]
                                         [--merge [.stack/bench/latest.json]]

Writes top-N boards of every metric, granularity and scope (all-time) into a keyspace of
its own (the way the stream's sink writes them), serves the API with uvicorn in a
subprocess (the real server: uvloop + httptools, ``--workers``), and runs ``--clients``
keep-alive HTTP/1.1 connections that each send the next request as soon as the previous
answer arrived (closed loop), cycling over the boards with ``limit=10``. Prints
requests/s, p50 and p99 of the time from sending a request to having its whole body.

The client is a few lines of asyncio on raw sockets rather than httpx: on this 2-core
machine the client shares the CPU with the server, and httpx spends ~0.5 ms of Python per
request, which would measure the client. ``--merge`` adds ``read_requests_per_s``,
``read_p50_ms`` and ``read_p99_ms`` to an existing ``latest.json`` (``make bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bench.figures import add_merge_option, merge
from streaming.store import BatchWrite, StreamState, StreamStore
from topproducts.countries import GLOBAL_SCOPE, SCOPES
from topproducts.leaderboards import ALL, Granularity, ItemTotal, Metric, rank
from topproducts.leaderboards.schema import drop_leaderboards
from topproducts.settings import REPO_ROOT, Settings, get_settings


def app():  # uvicorn --factory bench.bench_read:app
    """The API on the environment's settings, without the outbox pump (reads only)."""
    from services.app import create_app

    return create_app(get_settings(), publish_events=False)


def items(by: Granularity, scope: str, count: int = 40) -> list[ItemTotal]:
    """Believable items of one granularity: distinct keys, skewed totals."""
    out = []
    for i in range(count):
        product = 100 + i
        material = None if by is Granularity.PRODUCT else ("Wool", "Leather", "Oak")[i % 3]
        variant = product * 10 + i % 3 if by is Granularity.VARIANT else None
        quantity = 500 // (i + 1) + len(scope)
        out.append(ItemTotal(product, f"Product {product}", material, variant,
                             f"Seller {i % 7}" if variant else None, quantity,
                             Decimal(quantity * 37 + i) / 4))
    return out


def write_boards(settings: Settings, top_n: int) -> None:
    """One batch with every (metric, granularity, scope) all-time board."""
    boards = [(m, by, scope, ALL, rank(items(by, scope), m, top_n))
              for m in Metric for by in Granularity for scope in SCOPES]
    with StreamStore.opened(settings) as store:
        store.write_batch(BatchWrite(
            query="bench", batch_id=0, totals=[], boards=boards, panes=[], windows=[],
            state=StreamState("bench", 0, None, 0, None, 0), dead_letters=[],
            now=datetime.now(UTC)))


def paths(limit: int = 10) -> list[str]:
    return [f"/leaderboards/{m.value}?by={by.value}&scope={scope}&window=all&limit={limit}"
            for m in Metric for by in Granularity for scope in (GLOBAL_SCOPE, "IN")]


# -- the server ----------------------------------------------------------------
def start_server(settings: Settings, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "TOPPRODUCTS_CASSANDRA_KEYSPACE": settings.cassandra_keyspace}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.bench_read:app",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", "--no-access-log"],
        cwd=REPO_ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, _ = asyncio.run(_get_once(port, "/health"))
            if status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the API did not start within 30 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


# -- the client ----------------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection: send a GET, read the whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(int(h.split(":", 1)[1]) for h in lines[1:]
                      if h.lower().startswith("content-length:"))
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _get_once(port: int, path: str) -> tuple[int, bytes]:
    conn = await Connection.open(port)
    try:
        return await conn.get(path)
    finally:
        conn.close()


async def load(port: int, urls: list[str], clients: int, seconds: float, warmup: float
               ) -> dict[str, Any]:
    """``clients`` closed-loop connections for ``warmup + seconds``; latencies of the last
    ``seconds`` only."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def client(k: int) -> None:
        nonlocal errors
        conn = await Connection.open(port)
        i = k
        try:
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                status, body = await conn.get(urls[i % len(urls)])
                done = time.perf_counter()
                i += 1
                if status != 200 or not body.startswith(b"{"):
                    errors += 1
                if sent >= measure_from:
                    latencies.append(done - sent)
        finally:
            conn.close()

    await asyncio.gather(*(client(k) for k in range(clients)))
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"read_requests_per_s": round(len(latencies) / seconds),
            "read_p50_ms": round(q[49] * 1000, 2), "read_p99_ms": round(q[98] * 1000, 2),
            "read_requests": len(latencies), "read_errors": errors, "read_clients": clients}


def run(base: Settings, clients: int, seconds: float, warmup: float, workers: int,
        port: int) -> dict[str, Any]:
    settings = base.replace(cassandra_keyspace="bench" + uuid.uuid4().hex[:8])
    try:
        write_boards(settings, settings.top_n)
        server = start_server(settings, port, workers)
        try:
            figures = asyncio.run(load(port, paths(), clients, seconds, warmup))
        finally:
            stop_server(server)
    finally:
        drop_leaderboards(settings)
    figures["read_workers"] = workers
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--port", type=int, default=8093)
    add_merge_option(ap)
    args = ap.parse_args()
    print(f"== reads: {args.clients} clients, top-10 boards, {args.seconds:g} s "
          f"({args.workers} uvicorn worker(s))")
    f = run(get_settings(), args.clients, args.seconds, args.warmup, args.workers, args.port)
    print(f"  {f['read_requests_per_s']:,} requests/s, p50 {f['read_p50_ms']} ms, "
          f"p99 {f['read_p99_ms']} ms ({f['read_requests']:,} requests, "
          f"{f['read_errors']} errors)")
    if args.merge is not None:
        merge(args.merge, f)

if __name__ == "__main__":
    main()
