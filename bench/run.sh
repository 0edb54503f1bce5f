#!/usr/bin/env bash
# The benchmarks (`make bench`): figures printed, never asserted. Needs the stack; starts it.
# Record the figures in README.md ("Measured") with the date and the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/topproducts stack up --no-spark
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== shop: seeding rows/s, orders/s, events/s"
.venv/bin/python bench/bench_shop.py --customers 20000 --products 2000 --orders 20000
echo "== stream: drain events/s, event-to-leaderboard latency"
.venv/bin/python bench/bench_stream.py --events 20000 --rate 20 --seconds 60
