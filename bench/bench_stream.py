"""Benchmark the stream on the real stack; every figure in one run (``make bench``).

    .venv/bin/python -m bench.bench_stream [--events 1000000] [--steps 100,...,1000]

1. **Drain**: a topic preloaded with ``--events`` events in the simulator's mix
   (:mod:`bench.drain_data`), read first by a bare confluent-kafka consumer
   (``assign()`` from offset 0) and by the original project's per-event
   read-modify-write consumer (:mod:`bench.baselines`), then drained by the stream.
   The warm rate counts from the end of the stream's first micro-batch (JVM start
   and code generation excluded) to the moment its progress reaches the topic's end;
   the cold rate counts from the process start. Every all-time total is then
   compared with what the preload says it must be. Then ``topproducts rebuild`` recounts
   it, and the **Flink SQL peer** (:mod:`bench.peers.flink`) drains the same topic,
   ``--peer-rounds`` times alternating with the stream: the side-by-side table, and the
   peer's all-time totals and boards checked against the preload's, its windowed totals
   against the stream's.
2. **Flat cost**: live traffic at a fixed event rate, with 1,000 and with 10,000
   variants: the mean per-batch time of each (the seed's design grew with the
   catalogue: it re-read whole partitions), in runs ordered 1k, 10k, 10k, 1k, each
   started with Cassandra idle (the drain leaves compactions behind).
3. **Memory**: the stream's resident memory (driver and JVM) after the big drain,
   and the state rows it reports (the driver's ledger bits and totals).
4. **Latency** through MySQL, the outbox and Kafka (:mod:`bench.latency`), as a **step
   run** (``--steps``: 100, 200, 300, 500, 700 and 1,000 orders/s, 60 s each, one stream
   warmed up for 3 minutes first, the time its JIT takes to settle): p50/p99/unseen and
   CPU per process at each step, and the **capacity** (``capacity_orders_per_s_at_1s``),
   the highest rate whose p99 stays <= 1 s. The 300 orders/s step gives the headline
   ``latency_*`` and ``stream_cpu_ms_per_order`` (a rate the load side keeps up with
   beside the stream on 2 cores); the last step, the aim, is ``latency_aim``.
5. The **peer's latency** by the same method (``--peer-steps``: 100 and 300 orders/s
   after the same warm-up), read from its boards topic, beside the stream's steps.
6. The **simulator**'s rate and CPU per order (``bench/bench_shop.py``).

Prints each figure and writes them all to ``<state_dir>/bench/latest.json``.
Each part runs in its own topic prefix, keyspace and state folder, removed after.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from bench.baselines import (
    bare_consumer_rate,
    cpu_seconds,
    peak_rss_mib,
    rss_mib,
    seed_baseline_rate,
)
from bench.drain_data import PreloadReport, preload
from bench.peers.compare import Amounts, WindowTotals
from bench.peers.flink.runner import run_peer
from bench.peers.table import latency_side_by_side, side_by_side
from topproducts import cassandra_io, kafka_io
from topproducts import stream_control as process
from topproducts.errors import TopProductsError
from topproducts.leaderboards import Granularity, open_store
from topproducts.leaderboards.schema import drop_leaderboards
from topproducts.leaderboards.store import STREAM_QUERY
from topproducts.settings import REPO_ROOT, Settings, get_settings
from topproducts.stack import services
from topproducts.stack.process import read_pid


def end_offsets(settings: Settings, topic: str) -> dict[str, int]:
    consumer = kafka_io.consumer(f"{settings.kafka_topic_prefix}-bench", settings)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {str(p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in parts}
    finally:
        consumer.close()


def isolated(base: Settings, **changes: Any) -> Settings:
    name = "bench" + uuid.uuid4().hex[:8]
    return base.replace(kafka_topic_prefix=name, cassandra_keyspace=name,
                        state_dir=Path(tempfile.mkdtemp(prefix="bench-stream-")),
                        spark_ui_port=4070, **changes)


def drop(settings: Settings) -> None:
    process.stop(settings, timeout=60)
    drop_leaderboards(settings)
    admin = kafka_io.admin(settings)
    for future in admin.delete_topics([settings.topic("orders")]).values():
        future.result(timeout=30)


def service_cpu(settings: Settings) -> dict[str, float]:
    """CPU seconds used so far by Kafka and Cassandra (the local stack's processes; their pid
    files are in the stack's state folder, not in a benchmark's own)."""
    out = {}
    stack = settings.replace(state_dir=get_settings().state_dir)
    for svc in services(stack, ["kafka", "cassandra"]):
        pid = read_pid(svc.pid_file)
        out[svc.name] = cpu_seconds(pid) if pid else 0.0
    return out


def load(settings: Settings, events: int, variants: int) -> PreloadReport:
    loaded = preload(settings, settings.topic("orders"), events, variants=variants)
    print(f"  preloaded {loaded.events:,} events ({loaded.malformed:,} malformed, "
          f"{variants:,} variants) in {loaded.seconds:.1f}s")
    return loaded


def drain(settings: Settings, loaded: PreloadReport, baselines: bool = False
          ) -> dict[str, Any]:
    """Optionally measure the baselines on the preloaded topic, then drain it with the stream.

    Besides the rates: the CPU seconds of the stream's processes (driver and JVM) and of
    Kafka and Cassandra over the drain, and the stream's peak memory."""
    topic = settings.topic("orders")
    out: dict[str, Any] = {"events": loaded.events}
    if baselines:
        bare = bare_consumer_rate(settings, topic)
        out["bare_consumer_msgs_per_s"] = round(bare.per_second)
        print(f"  bare consumer (assign, offset 0): {bare.count:,} messages in "
              f"{bare.seconds:.2f}s = {bare.per_second:,.0f} msgs/s")
        seed = seed_baseline_rate(settings, topic, seconds_budget=20.0)
        out["seed_baseline_events_per_s"] = round(seed.per_second, 1)
        print(f"  seed-style baseline (read-modify-write per item): {seed.count:,} events in "
              f"{seed.seconds:.1f}s = {seed.per_second:,.1f} events/s")
    target = {topic: end_offsets(settings, topic)}
    total = sum(target[topic].values())
    with open_store(settings) as store:
        services_before = service_cpu(settings)
        started = time.monotonic()
        pid = process.start(settings)
        first: tuple[float, int] | None = None
        deadline = started + 1800
        while True:
            row = next((p for p in store.progress() if p.query == STREAM_QUERY), None)
            now = time.monotonic()
            if row is not None and first is None:
                first = (now, sum(row.offsets().get(topic, {}).values()))
            if row is not None and {t: {str(k): v for k, v in parts.items()}
                                    for t, parts in row.offsets().items()} == target:
                break
            if now > deadline:
                raise SystemExit(f"not caught up; see {process.log_file(settings)}")
            time.sleep(0.05)
        done = time.monotonic()
        cpu = cpu_seconds(pid)
        services_after = service_cpu(settings)
        out["stream_rss_mib"] = round(rss_mib(pid))
        out["stream_peak_rss_mib"] = round(peak_rss_mib(pid))
        out["drain_cpu_s"] = round(cpu, 1)
        out["drain_cpu_s_per_million"] = round(cpu / total * 1e6, 1)
        for name, before in services_before.items():
            out[f"drain_{name}_cpu_s"] = round(services_after[name] - before, 1)
        out["state_rows"] = row.state_rows
        history = store.progress_history(STREAM_QUERY, datetime.now(UTC).date(), 1000)
        batches = sorted((p for p in history if p.input_rows), key=lambda p: p.batch_id)
        exact = all(
            {i.variant_id: (i.quantity, i.revenue_usd)
             for i in store.totals(scope, "all", Granularity.VARIANT)}
            == {v: qr for (s, v), qr in loaded.totals.items() if s == scope}
            for scope in {s for s, _ in loaded.totals})
    assert first is not None
    warm_events = total - first[1]
    out.update({
        "drain_events_per_s": round(warm_events / (done - first[0])) if warm_events else None,
        "drain_cold_events_per_s": round(total / (done - started)),
        "drain_seconds": round(done - started, 1),
        "drain_first_batch_s": round(first[0] - started, 1),
        "batches": len(batches),
        "batch_seconds_mean": round(statistics.fmean(
            p.batch_duration_ms for p in batches[1:] or batches) / 1000, 3) if batches else None,
        "exact": exact,
    })
    warm = out["drain_events_per_s"]
    print(f"  stream: {total:,} events, warm {f'{warm:,}' if warm else 'n/a'} events/s (after the "
          f"first batch), cold {out['drain_cold_events_per_s']:,} events/s (from process "
          f"start); {len(batches)} batches, mean {out['batch_seconds_mean']}s; all-time totals "
          f"{'equal' if exact else 'DIFFER FROM'} the preload's")
    print(f"  memory: {out['stream_rss_mib']:,} MiB resident (driver + JVM; peak "
          f"{out['stream_peak_rss_mib']:,}); state rows {out['state_rows']:,}; CPU "
          f"{out['drain_cpu_s']:,} s ({out['drain_cpu_s_per_million']:,} s per 1M events), "
          f"Kafka {out['drain_kafka_cpu_s']} s, Cassandra {out['drain_cassandra_cpu_s']} s")
    return out


def again(base: Settings) -> Settings:
    """The same topic, a new keyspace and state folder: the stream drains it from nothing."""
    name = "bench" + uuid.uuid4().hex[:8]
    return base.replace(cassandra_keyspace=name,
                        state_dir=Path(tempfile.mkdtemp(prefix="bench-stream-")))


def stream_windows(settings: Settings, scopes: Iterable[str]) -> WindowTotals:
    """The stream's windowed variant totals in Cassandra, every window of every scope
    (the reference the peer's windows are compared with)."""
    out: dict[tuple[str, int], dict[str, Amounts]] = {}
    with open_store(settings, create=False) as store:
        for scope in scopes:
            for w in store.windows(scope, limit=10_000):
                assert w.start is not None
                out[(scope, int(w.start.timestamp()))] = {
                    str(t.variant_id): (t.quantity, t.revenue_usd)
                    for t in store.totals(scope, w.id, Granularity.VARIANT)}
    return out


def flink_peer(settings: Settings, loaded: PreloadReport) -> dict[str, Any]:
    """The Flink SQL peer on the same topic (bench/peers/flink), with Kafka's and Cassandra's
    CPU over its run beside its own; its windows are compared with the stream's (the
    stream's drain left them in ``settings``' keyspace)."""
    windows = stream_windows(settings, {scope for scope, _ in loaded.totals})
    waited = quiet_cassandra(settings)
    before = service_cpu(settings)
    out = run_peer(settings, settings.topic("orders"), loaded, windows=windows)
    after = service_cpu(settings)
    for name, cpu in before.items():
        out[f"peer_flink_{name}_cpu_s"] = round(after[name] - cpu, 1)
    print(f"  Flink SQL peer (after {waited:.0f}s waiting for Cassandra's compactions): "
          f"{loaded.events:,} events in {out['peer_flink_seconds']}s = "
          f"{out['peer_flink_events_per_s']:,} events/s from process start "
          f"({out['peer_flink_events_per_s_after_submit']:,} after the job's submission, "
          f"{out['peer_flink_startup_s']}s in); CPU {out['peer_flink_cpu_s']} s "
          f"({out['peer_flink_cpu_s_per_million']} s per 1M events), peak "
          f"{out['peer_flink_peak_rss_mib']:,} MiB; all-time totals and boards "
          f"{'equal' if out['peer_flink_exact'] else 'DIFFER FROM'} the preload's, "
          f"windowed totals the stream's ({out['peer_flink_windows_checked']} windows)")
    for problem in out["peer_flink_problems"]:
        print(f"    {problem}")
    return out


def peer_rounds(s: Settings, loaded: PreloadReport, first: dict[str, Any], rounds: int
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stream's drain (``first``, already measured) and the peer's on the same topic,
    ``rounds`` times, alternating (stream, peer, peer, stream, ...): (stream's, peer's)."""
    ours, peers = [first], [flink_peer(s, loaded)]
    for i in range(1, rounds):
        for engine in (("peer", "stream") if i % 2 else ("stream", "peer")):
            if engine == "peer":
                peers.append(flink_peer(s, loaded))
                continue
            quiet_cassandra(s)
            fresh = again(s)
            try:
                ours.append(drain(fresh, loaded))
            finally:
                process.stop(fresh, timeout=60)
                drop_leaderboards(fresh)
    return ours, peers


def quiet_cassandra(settings: Settings, timeout: float = 180.0) -> float:
    """Wait until Cassandra runs no compaction (the drain before leaves many to do, and
    they would weigh on whichever run comes first); returns the seconds waited."""
    started = time.monotonic()
    session = cassandra_io.connect(settings)
    try:
        while time.monotonic() - started < timeout:
            tasks = list(session.execute("SELECT keyspace_name FROM system_views.sstable_tasks"))
            pools = [r for r in session.execute(
                "SELECT name, active_tasks, pending_tasks FROM system_views.thread_pools")
                if r.name == "CompactionExecutor"]
            if not tasks and not any(r.active_tasks or r.pending_tasks for r in pools):
                break
            time.sleep(1)
    finally:
        session.cluster.shutdown()
    return time.monotonic() - started


def steady(settings: Settings, variants: int, rate: float, seconds: float) -> list[float]:
    """Per-batch times at a fixed event rate: live traffic, not a backlog.

    Events in the simulator's mix (generated up front, ``variants`` distinct
    variants) are produced at ``rate`` events/s for ``seconds`` while the stream
    runs; returns the durations of the batches the stream reports (in seconds), but
    the first two (start-up).
    """
    from bench.drain_data import generate

    topic = settings.topic("orders")
    kafka_io.ensure_topics(settings, [topic])
    messages: list[tuple[str, bytes]] = []
    generate(lambda k, v: messages.append((k, v)), int(rate * seconds) + 200,
             variants=variants)
    producer = kafka_io.producer(settings)
    for key, value in messages[:200]:  # a first batch, to start and warm the stream
        producer.produce(topic, key=key, value=value)
    producer.flush(30)
    with open_store(settings) as store:
        process.start(settings)
        while not any(p.query == STREAM_QUERY for p in store.progress()):
            time.sleep(0.2)
        first_batch = next(p.batch_id for p in store.progress() if p.query == STREAM_QUERY)
        started = time.monotonic()
        for i, (key, value) in enumerate(messages[200:]):
            due = started + i / rate
            if due > time.monotonic():
                producer.flush(0)
                time.sleep(max(0.0, due - time.monotonic()))
            producer.produce(topic, key=key, value=value)
            producer.poll(0)
        producer.flush(30)
        time.sleep(3)
        history = store.progress_history(STREAM_QUERY, datetime.now(UTC).date(), 1000)
    return sorted(p.batch_duration_ms / 1000 for p in history
                  if p.batch_id > first_batch + 1 and p.input_rows)


def flat_cost(base: Settings, rate: float, seconds: float) -> dict[str, Any]:
    """Per-batch time with 1,000 and with 10,000 variants, in rounds ordered 1k, 10k,
    10k, 1k (a drift of the machine over the runs weighs on both alike), each started
    with Cassandra idle; per variant count, the mean, median and p90 of its batches."""
    batches: dict[int, list[float]] = {1000: [], 10000: []}
    for variants in (1000, 10000, 10000, 1000):
        waited = quiet_cassandra(base)
        s = isolated(base)
        try:
            got = steady(s, variants, rate, seconds / 2)
        finally:
            drop(s)
        batches[variants] += got
        print(f"  {variants:,} variants at {rate:,.0f} events/s for {seconds / 2:g}s "
              f"(after {waited:.0f}s waiting for Cassandra's compactions): {len(got)} batches, "
              f"mean {statistics.fmean(got):.3f}s")
    out: dict[str, Any] = {}
    for variants, times in batches.items():
        times.sort()
        mean, median = statistics.fmean(times), statistics.median(times)
        p90 = times[int(0.9 * (len(times) - 1))]
        print(f"  {variants:,} variants: {len(times)} batches, mean {mean:.3f}s, "
              f"median {median:.3f}s, p90 {p90:.3f}s")
        out[f"batch_seconds_{variants}_variants"] = round(mean, 3)
        out[f"batch_seconds_median_{variants}_variants"] = round(median, 3)
        out[f"batch_seconds_p90_{variants}_variants"] = round(p90, 3)
        out[f"batches_{variants}_variants"] = len(times)
    out["flat_cost_ratio"] = round(out["batch_seconds_10000_variants"]
                                   / out["batch_seconds_1000_variants"], 2)
    return out


def simulator_rate() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_shop", "--customers", "20000", "--products", "2000",
         "--orders", "20000", "--json"], cwd=REPO_ROOT, capture_output=True, text=True,
        check=True)
    print(result.stdout.rstrip())
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="events to drain")
    ap.add_argument("--flat-rate", type=float, default=3000.0,
                    help="events/s of the flat-cost runs")
    ap.add_argument("--flat-seconds", type=float, default=80.0,
                    help="seconds of load per variant count, in two runs (about 25 "
                         "batches: fewer, and the first ones, still warming up, weigh on "
                         "the mean)")
    ap.add_argument("--steps", default="100,200,300,500,700,1000",
                    help="rates (orders/s) of the latency step run ('': skip it)")
    ap.add_argument("--step-seconds", type=float, default=60.0,
                    help="measured seconds per step (the first step warms up first)")
    ap.add_argument("--sustained-rate", type=float, default=300.0,
                    help="the step whose figures are the 'sustained' ones: a rate the load "
                         "side keeps up with beside the stream on this machine")
    ap.add_argument("--peer-rounds", type=int, default=2,
                    help="drains by the Flink SQL peer of the same topic, alternating with "
                         "the stream's (0: none; a round is about 5 minutes on 2 cores)")
    ap.add_argument("--peer-steps", default="100,300",
                    help="rates (orders/s) of the Flink SQL peer's latency step run, beside "
                         "the stream's ('': skip it)")
    ap.add_argument("--skip", action="append", default=[],
                    choices=["drain", "flat", "latency", "peer-latency", "simulator"])
    args = ap.parse_args()
    base = get_settings()
    figures: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "cores": __import__("os").cpu_count()}

    if "drain" not in args.skip:
        print(f"== drain: {args.events:,} events")
        s = isolated(base)
        peer_figures: dict[str, Any] = {}
        try:
            loaded = load(s, args.events, variants=1000)
            d = drain(s, loaded, baselines=True)
            process.stop(s, timeout=60)
            from topproducts.rebuild import rebuild

            rebuilt = rebuild(s)  # the same topic, recounted from nothing (issue 11)
            d["rebuild_events_per_s"] = round(rebuilt.events_per_second)
            print(f"  rebuild (drop, then the stream's query in batch mode): "
                  f"{rebuilt.events:,} messages in {rebuilt.seconds:.1f}s = "
                  f"{rebuilt.events_per_second:,.0f} messages/s, Spark's start included")
            if args.peer_rounds > 0:
                print(f"== the Flink SQL peer on the same topic ({args.peer_rounds} round(s), "
                      "alternating with the stream)")
                try:
                    ours, peers = peer_rounds(s, loaded, d, args.peer_rounds)
                except (RuntimeError, subprocess.CalledProcessError) as exc:
                    # the rest of the benchmark still runs; the record says the peer failed
                    print(f"  the Flink SQL peer failed: {exc}")
                    peer_figures = {"peer_flink_error": str(exc)}
                else:
                    table, peer_figures = side_by_side(ours, peers)
                    print(table)
        finally:
            drop(s)
        figures.update({k: d[k] for k in (
            "drain_events_per_s", "drain_cold_events_per_s", "bare_consumer_msgs_per_s",
            "seed_baseline_events_per_s", "stream_rss_mib", "state_rows", "exact",
            "rebuild_events_per_s", "stream_peak_rss_mib", "drain_cpu_s_per_million",
            "drain_kafka_cpu_s", "drain_cassandra_cpu_s")})
        figures.update(peer_figures)  # medians over the rounds
        # a backlog drained in one batch has no warm rate (a small --events): the cold one
        rate = d["drain_events_per_s"] or d["drain_cold_events_per_s"]
        figures["drain_vs_bare_consumer"] = round(rate / d["bare_consumer_msgs_per_s"], 3)
        figures["drain_vs_seed_baseline"] = round(rate / d["seed_baseline_events_per_s"])
        print(f"  ratios: {figures['drain_vs_bare_consumer']:.1%} of the bare consumer, "
              f"{figures['drain_vs_seed_baseline']:,}x the seed-style baseline")

    if "flat" not in args.skip:
        print(f"== flat cost: {args.flat_rate:,.0f} events/s, 1,000 and 10,000 variants, "
              f"{args.flat_seconds:g}s each (two rounds)")
        figures.update(flat_cost(base, args.flat_rate, args.flat_seconds))
        print(f"  per-batch time, 10,000 vs 1,000 variants: {figures['flat_cost_ratio']}x")

    if "latency" not in args.skip and args.steps:
        from bench.latency import run_steps

        rates = [float(r) for r in args.steps.split(",")]
        print(f"== latency, a step run: {', '.join(f'{r:g}' for r in rates)} orders/s, "
              f"{args.step_seconds:g}s each after a warm-up, a probe every 100 ms")
        run = run_steps(base, rates, seconds=args.step_seconds)
        figures["latency_steps"] = run["steps"]
        figures["capacity_orders_per_s_at_1s"] = run["capacity_orders_per_s"]
        # The headline figures are the sustained step's: a rate the load side keeps up
        # with beside the stream on 2 cores (issue goals 2 and 3); the last step is the aim.
        by_rate = {st["rate_target"]: st for st in run["steps"]}
        sus = by_rate.get(args.sustained_rate)
        if sus is not None:
            figures["latency_sustained"] = sus
            figures.update({k: sus[k] for k in (
                "latency_p50_s", "latency_p99_s", "latency_max_s", "latency_unseen",
                "latency_from_commit_p50_s", "latency_from_commit_p99_s",
                "stream_cpu_ms_per_order")})
            figures["latency_orders_per_s"] = sus["orders_per_s"]
        aim = by_rate.get(max(rates))
        if aim is not None:
            figures["latency_aim"] = {k: aim.get(k) for k in (
                "rate_target", "orders_per_s", "latency_p50_s", "latency_p99_s",
                "latency_from_commit_p99_s", "latency_unseen", "stopped_behind_schedule",
                "stream_cpu_ms_per_order", "cpu_cores")}

    if "peer-latency" not in args.skip and args.peer_steps:
        from bench.latency import run_steps

        rates = [float(r) for r in args.peer_steps.split(",")]
        print(f"== latency of the Flink SQL peer, the same method: "
              f"{', '.join(f'{r:g}' for r in rates)} orders/s, {args.step_seconds:g}s each "
              "after the same warm-up, read from its boards topic")
        try:
            peer = run_steps(base, rates, seconds=args.step_seconds, engine="flink")
        except (TopProductsError, RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"  the Flink SQL peer failed: {exc}")  # the record says so; the rest runs
            figures["peer_flink_latency_error"] = str(exc)
        else:
            figures["peer_flink_latency_steps"] = peer["steps"]
            figures["peer_flink_capacity_orders_per_s_at_1s"] = peer["capacity_orders_per_s"]
            print(latency_side_by_side(figures.get("latency_steps", []), peer["steps"]))
            sus = {st["rate_target"]: st for st in peer["steps"]}.get(args.sustained_rate)
            if sus is not None:
                figures.update({f"peer_flink_{k}": sus[k] for k in (
                    "latency_p50_s", "latency_p99_s", "latency_unseen", "orders_per_s")})
                figures["peer_flink_cpu_ms_per_order"] = sus["stream_cpu_ms_per_order"]

    if "simulator" not in args.skip:
        print("== simulator (MySQL + outbox + Kafka)")
        shop = simulator_rate()
        figures["simulator"] = shop
        figures["orders_per_s"] = shop["orders_per_s"]
        figures["order_cpu_ms"] = shop.get("order_cpu_ms")  # goal 1: <= 0.6 ms in total
        figures["order_cpu_us"] = shop.get("order_cpu_us")  # per process (mariadb, client, kafka)

    # only a full run is the record (`make bench`); a partial one must not replace it
    out = base.state_dir / "bench" / ("partial.json" if args.skip else "latest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"== written to {out}")


if __name__ == "__main__":
    main()
