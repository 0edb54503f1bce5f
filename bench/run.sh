#!/usr/bin/env bash
# The benchmarks (`make bench`): figures printed, never asserted. Needs the stack; starts it.
# Writes .stack/bench/latest.json; record the figures in README.md ("Measured") with the date.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/topproducts stack up --no-spark
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
.venv/bin/python -m bench.bench_stream "$@"
.venv/bin/python -m bench.bench_counting --merge   # adds counting_* figures (driver CPU per batch)
.venv/bin/python -m bench.bench_read --merge   # adds read_* figures to latest.json
