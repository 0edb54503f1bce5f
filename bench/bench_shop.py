"""Benchmark of the shop: seeding rows/s, orders/s and events/s against the real stack.

Runs in its own sandbox (``bench_shop_*`` databases, ``bench_shop.*`` topics),
dropped before and after. Usage::

    .venv/bin/python -m bench.bench_shop [--customers N] [--products N] [--orders N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from tests.support import sandbox
from topproducts.errors import TopProductsError
from topproducts.settings import get_settings
from topproducts.shop import outbox, seed, simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the sandbox afterwards")
    parser.add_argument("--json", action="store_true", help="print one JSON line as well")
    args = parser.parse_args(argv)

    settings = sandbox.isolated(get_settings(), "bench_shop")
    try:
        sandbox.drop(settings)
        seeded = seed.seed(settings, args.customers, args.products, seed=1)
        published = outbox.publish_pending(settings)
        cpu_before = time.process_time()
        produced = simulator.produce(settings, args.orders, seed=1, batch_size=args.batch_size)
        client_cpu = time.process_time() - cpu_before
    except TopProductsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            sandbox.drop(settings)

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
        "client_cpu_us_per_order": round(client_cpu / produced.orders * 1e6),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(f"seed:    {figures['seed_rows']:>9,} rows in {figures['seed_seconds']:>6.2f}s "
          f"= {figures['seed_rows_per_s']:>7,} rows/s")
    print(f"orders:  {figures['orders']:>9,} in {figures['order_seconds']:>6.2f}s "
          f"= {figures['orders_per_s']:>7,} orders/s "
          f"({figures['mysql_rows_per_s']:,} MySQL rows/s)")
    print(f"events:  {figures['events']:>9,} ({figures['event_mb']} MB) "
          f"= {figures['events_per_s']:>7,} events/s, delivered and acknowledged")
    print(f"client:  {figures['client_cpu_us_per_order']} us CPU per order (this process); "
          f"load average {figures['load_average_1m']} on {os.cpu_count()} cores")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
