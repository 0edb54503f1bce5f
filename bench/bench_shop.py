"""Benchmark of the shop: seeding rows/s, orders/s and events/s against the real stack.

Runs in its own sandbox (``bench_shop_*`` databases, ``bench_shop.*`` topics),
dropped before and after (MySQL and Kafka only: no Cassandra needed). Usage::

    .venv/bin/python -m bench.bench_shop [--customers N] [--products N] [--orders N]

Besides the rate it prints the CPU each order costs while the simulator runs, per
process, read from ``/proc/<pid>/stat`` (user + system) before and after: MariaDB and
Kafka (from the stack's pid files), and this process (the client: the simulator and
the relay's thread). ``order_cpu_ms`` is their sum per order (issue 25's goal 1:
at most 0.6 ms). Other work on the machine does not count, but it slows the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from bench.baselines import cpu_seconds
from tests.support import sandbox
from topproducts.errors import TopProductsError
from topproducts.settings import get_settings
from topproducts.shop import outbox, seed, simulator
from topproducts.stack.process import read_pid

PROCESSES = ("mariadb", "kafka")  # pid files of the stack; the client is this process


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid, descendants=name != "client") for name, pid in pids.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the sandbox afterwards")
    parser.add_argument("--json", action="store_true", help="print one JSON line as well")
    parser.add_argument("--profile", metavar="FILE",
                        help="write a cProfile of the simulator run to FILE")
    args = parser.parse_args(argv)

    base = get_settings()
    settings = sandbox.isolated(base, "bench_shop")
    pids = {"client": os.getpid()}
    for name in PROCESSES:
        pid = read_pid(base.run_dir / f"{name}.pid")
        if pid is not None:
            pids[name] = pid
    try:
        sandbox.drop_shop(settings)
        seeded = seed.seed(settings, args.customers, args.products, seed=1)
        published = outbox.publish_pending(settings)
        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
        cpu_before = _cpu(pids)
        if profiler is not None:
            profiler.enable()
        produced = simulator.produce(settings, args.orders, seed=1, batch_size=args.batch_size)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        cpu = {name: sec - cpu_before[name] for name, sec in _cpu(pids).items()}
    except TopProductsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            sandbox.drop_shop(settings)

    orders = max(1, produced.orders)
    us = {name: round(cpu[name] / orders * 1e6) for name in ("mariadb", "client", "kafka")
          if name in cpu}
    figures = {
        "seed_rows": seeded.total_rows,
        "seed_seconds": round(seeded.seconds, 2),
        "seed_rows_per_s": round(seeded.total_rows / seeded.seconds),
        "seed_events_published": published.events,
        "orders": produced.orders,
        "order_seconds": round(produced.seconds, 2),
        "orders_per_s": round(produced.orders_per_second),
        "events": produced.published.events,
        "events_per_s": round(produced.events_per_second),
        "mysql_rows_per_s": round(produced.rows / produced.seconds),
        "event_mb": round(produced.published.bytes / 1e6, 1),
        "client_cpu_us_per_order": us["client"],
        "order_cpu_us": us,  # per process; a process whose pid file is missing is left out
        "order_cpu_ms": round(sum(cpu.values()) / orders * 1e3, 3),
        "order_cpu_processes": sorted(cpu),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(f"seed:    {figures['seed_rows']:>9,} rows in {figures['seed_seconds']:>6.2f}s "
          f"= {figures['seed_rows_per_s']:>7,} rows/s")
    print(f"orders:  {figures['orders']:>9,} in {figures['order_seconds']:>6.2f}s "
          f"= {figures['orders_per_s']:>7,} orders/s "
          f"({figures['mysql_rows_per_s']:,} MySQL rows/s)")
    print(f"events:  {figures['events']:>9,} ({figures['event_mb']} MB) "
          f"= {figures['events_per_s']:>7,} events/s, delivered and acknowledged")
    split = ", ".join(f"{name} {v}" for name, v in us.items())
    missing = [p for p in PROCESSES if p not in cpu]
    print(f"cpu:     {figures['order_cpu_ms']:.3f} ms per order in total (goal <= 0.6): "
          f"{split} us"
          + (f" (no pid file for {', '.join(missing)}: not counted)" if missing else "")
          + f"; load average {figures['load_average_1m']} on {os.cpu_count()} cores")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
