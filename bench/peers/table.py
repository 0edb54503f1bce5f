"""The side-by-side table of a drain by the stream and by a peer, and its figures (pure).

Each engine's runs are the dicts :func:`bench.bench_stream.drain` and
:func:`bench.peers.flink.runner.run_peer` return; with several rounds the table shows the
median of each figure (the runs alternate, so a drift of the machine weighs on both).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

Run = dict[str, Any]

# (label, the stream's key, the peer's key)
ROWS = (
    ("events/s from process start", "drain_cold_events_per_s", "peer_flink_events_per_s"),
    ("events/s once started (stream: after its 1st batch; Flink: after submission)",
     "drain_events_per_s", "peer_flink_events_per_s_after_submit"),
    ("seconds, process start to drained", "drain_seconds", "peer_flink_seconds"),
    ("start-up s (stream: 1st batch done; Flink: job submitted)", "drain_first_batch_s",
     "peer_flink_startup_s"),
    ("CPU s per 1M events, the engine's processes", "drain_cpu_s_per_million",
     "peer_flink_cpu_s_per_million"),
    ("CPU s per 1M events, with Kafka and Cassandra", "cpu_with_services_per_million",
     "cpu_with_services_per_million"),
    ("Kafka CPU s over the run", "drain_kafka_cpu_s", "peer_flink_kafka_cpu_s"),
    ("Cassandra CPU s over the run", "drain_cassandra_cpu_s", "peer_flink_cassandra_cpu_s"),
    ("peak memory MiB (VmHWM, all processes)", "stream_peak_rss_mib",
     "peer_flink_peak_rss_mib"),
)


def with_services(run: Run, prefix: str, events: int) -> float:
    """CPU seconds per 1M events of the engine, Kafka and Cassandra together."""
    per_million = run[f"{prefix}cpu_s_per_million"]
    services = run[f"{prefix}kafka_cpu_s"] + run[f"{prefix}cassandra_cpu_s"]
    return per_million + services / events * 1e6


def median(runs: Sequence[Run], key: str) -> float:
    """The median of a figure over the runs (0 when no run has it: a drain done in its
    first batch has no rate after it)."""
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else 0.0


def side_by_side(ours: Sequence[Run], peers: Sequence[Run]) -> tuple[str, dict[str, Any]]:
    """(the table as Markdown, the figures for latest.json): medians over the runs, the
    ratio stream / peer of each figure, and whether every run of each was exact."""
    events = ours[0]["events"]  # the same topic for all
    ours = [{**r, "cpu_with_services_per_million": with_services(r, "drain_", events)}
            for r in ours]
    peers = [{**r, "cpu_with_services_per_million": with_services(r, "peer_flink_", events)}
             for r in peers]
    lines = [f"| median of {len(ours)} / {len(peers)} run(s) | this project (Spark stream) "
             "| Flink SQL peer | project / peer |", "| --- | --- | --- | --- |"]
    figures: dict[str, Any] = {}
    for label, our_key, peer_key in ROWS:
        a, b = median(ours, our_key), median(peers, peer_key)
        ratio = a / b if b else float("nan")
        lines.append(f"| {label} | {a:,.1f} | {b:,.1f} | {ratio:.2f}x |")
    exact_ours = all(r["exact"] for r in ours)
    exact_peer = all(r["peer_flink_exact"] for r in peers)
    lines.append(f"| equal to the independent totals | {'yes' if exact_ours else 'NO'} "
                 f"(all-time, variant) | {'yes' if exact_peer else 'NO'} (all-time totals, "
                 "3 granularities, and boards; its windowed variant totals equal the "
                 "stream's) | |")
    figures.update({
        "peer_flink_events_per_s": round(median(peers, "peer_flink_events_per_s")),
        "peer_flink_events_per_s_after_submit": round(
            median(peers, "peer_flink_events_per_s_after_submit")),
        "peer_flink_cpu_s_per_million": round(median(peers, "peer_flink_cpu_s_per_million"), 1),
        "peer_flink_peak_rss_mib": round(median(peers, "peer_flink_peak_rss_mib")),
        "peer_flink_exact": exact_peer,
        "peer_flink_runs": len(peers),
        "drain_cpu_s_per_million": round(median(ours, "drain_cpu_s_per_million"), 1),
        "drain_cold_events_per_s_median": round(median(ours, "drain_cold_events_per_s")),
        "drain_vs_peer_flink_from_start": round(
            median(ours, "drain_cold_events_per_s") / median(peers, "peer_flink_events_per_s"),
            3),
        "drain_vs_peer_flink_cpu": round(
            median(ours, "drain_cpu_s_per_million")
            / median(peers, "peer_flink_cpu_s_per_million"), 3),
        "peer_runs": {"stream": list(ours), "flink": list(peers)},
    })
    return "\n".join(lines), figures


def _latency_cells(step: Run | None) -> str:
    if step is None:
        return "| not run | | | |"
    unseen = step.get("latency_unseen")
    behind = " (fell behind)" if step.get("stopped_behind_schedule") else ""
    return (f"| {step['orders_per_s']:,.0f}{behind} | {step['latency_p50_s']} / "
            f"{step['latency_p99_s']} | {unseen} | {step['stream_cpu_ms_per_order']} |")


def latency_side_by_side(ours: Sequence[Run], peers: Sequence[Run]) -> str:
    """The step runs of the stream and of the peer (``bench.latency.run_steps``), rate by
    rate, as Markdown: orders/s placed, p50 / p99 from the schedule, probes unseen, and the
    engine side's CPU per order (the stream: driver, Spark, Cassandra, Kafka; the peer:
    its processes and Kafka)."""
    by_rate = {"ours": {s["rate_target"]: s for s in ours},
               "peer": {s["rate_target"]: s for s in peers}}
    head = ("| orders/s asked | stream: placed | p50 / p99 s | unseen | CPU ms per order "
            "| Flink peer: placed | p50 / p99 s | unseen | CPU ms per order |")
    lines = [head, "| --- " * 9 + "|"]
    for rate in sorted(set(by_rate["ours"]) | set(by_rate["peer"])):
        ours_cells = _latency_cells(by_rate["ours"].get(rate))
        peer_cells = _latency_cells(by_rate["peer"].get(rate))
        lines.append(f"| {rate:g} {ours_cells}{peer_cells[1:]}")
    return "\n".join(lines)
