"""The driver's counting alone: CPU per micro-batch of a live stream, no services needed.

    .venv/bin/python -m bench.bench_counting [--variants 1600] [--events 1500]
                                             [--batches 10] [--merge [latest.json]]

What the stream's driver does with each micro-batch once Spark handed it over
(:meth:`streaming.sink.LeaderboardSink.process`: sum the Arrow table, fold it into the
totals and window sums, rank the changed boards), into an in-memory store, on batches
shaped like the latency run's: ``--events`` confirmations per batch, 1-3 lines each
over ``--variants`` variants, five countries, event times in the current pane.

It runs the same batches twice in one process, alternating, with CPython's default
garbage-collector thresholds and with the stream's (:func:`streaming.job.tune_gc`), and
prints the median CPU time per batch of each (the first batches, which fill the state,
are not counted). Both must produce the same boards; the script says if they do not.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.figures import add_merge_option, merge
from streaming.counting import Counter
from streaming.job import GC_THRESHOLDS
from streaming.sink import LeaderboardSink
from tests.support.keyed import Event, table
from tests.support.reference import InMemoryStore
from topproducts.leaderboards.ranking import Geometry

GEOMETRY = Geometry.parse("1 hour", "5 minutes", "10 minutes")
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
COUNTRIES = ("US", "DE", "FR", "GB", "JP")
WARM = 3  # batches that fill the state first, not counted


def batches(variants: int, per_batch: int, n: int, seed: int = 1) -> list:
    rng = random.Random(seed)
    out, order_id = [], 0
    for b in range(n):
        events = []
        for _ in range(per_batch):
            order_id += 1
            items = tuple((rng.randint(1, variants), rng.randint(1, 5),
                           f"{rng.randint(100, 99_999) / 100:.2f}")
                          for _ in range(rng.randint(1, 3)))
            events.append(Event(order_id, rng.choice(COUNTRIES),
                                NOW + timedelta(seconds=2 * b + rng.random()), items))
        out.append(table(events))
    return out


def run(tables: list, thresholds: tuple[int, int, int]) -> tuple[list[float], dict]:
    """CPU seconds per counted batch, and the boards written."""
    default = gc.get_threshold()
    gc.collect()
    gc.set_threshold(*thresholds)
    try:
        store, clock = InMemoryStore(GEOMETRY), [NOW]
        sink = LeaderboardSink(store, Counter(GEOMETRY, 10), "bench", clock=lambda: clock[0])
        cpu = []
        for i, t in enumerate(tables):
            clock[0] = NOW + timedelta(seconds=0.5 * i)
            started = time.process_time()
            sink.process(t, i)
            if i >= WARM:
                cpu.append(time.process_time() - started)
        return cpu, store.boards
    finally:
        gc.set_threshold(*default)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=1600)
    ap.add_argument("--events", type=int, default=1500, help="confirmations per batch")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="alternations of the two runs")
    add_merge_option(ap)
    args = ap.parse_args()
    tables = batches(args.variants, args.events, args.batches)
    print(f"== driver counting: {args.events:,} confirmations per batch over "
          f"{args.variants:,} variants, {args.batches - WARM} batches x {args.rounds} rounds")
    cpu: dict[str, list[float]] = {"default": [], "tuned": []}
    boards = {}
    for _ in range(args.rounds):
        for name, thresholds in (("default", gc.get_threshold()), ("tuned", GC_THRESHOLDS)):
            seconds, boards[name] = run(tables, thresholds)
            cpu[name] += seconds
    default_ms = statistics.median(cpu["default"]) * 1000
    tuned_ms = statistics.median(cpu["tuned"]) * 1000
    figures = {"counting_cpu_ms_per_batch": round(tuned_ms, 1),
               "counting_cpu_ms_per_batch_default_gc": round(default_ms, 1),
               "counting_events_per_batch": args.events}
    print(f"  CPU per batch: {tuned_ms:,.0f} ms with the stream's GC thresholds "
          f"{GC_THRESHOLDS}, {default_ms:,.0f} ms with CPython's defaults "
          f"({tuned_ms / default_ms:.2f}x)")
    if boards["default"] != boards["tuned"]:
        print("  the two runs wrote different boards: a bug")
    if args.merge is not None:
        merge(args.merge, figures)

if __name__ == "__main__":
    main()
