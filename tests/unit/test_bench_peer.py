"""The peer benchmark's pure parts: the independent totals, the board check, the table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.peers.compare import (
    Entry,
    board_problems,
    expected_totals,
    ranked,
    total_differences,
    window_differences,
)
from bench.peers.table import latency_side_by_side, side_by_side

D = Decimal
PRODUCTS = {1: (10, "Oak"), 2: (10, "Steel"), 3: (11, "Oak")}  # variant -> (product, material)


def test_totals_roll_up_to_every_granularity_per_scope() -> None:
    want = expected_totals({("IN", 1): (2, D("3.10")), ("IN", 2): (1, D("0.90")),
                            ("GLOBAL", 1): (2, D("3.10")), ("GLOBAL", 2): (1, D("0.90")),
                            ("GLOBAL", 3): (0, D("0.00"))}, PRODUCTS.__getitem__)
    assert want[("product", "IN", "10")] == (3, D("4.00"))
    assert want[("product_material", "GLOBAL", "10|Oak")] == (2, D("3.10"))
    assert want[("variant", "GLOBAL", "3")] == (0, D("0.00"))  # all retracted: still there
    assert ("product", "IN", "11") not in want


def test_differences_name_changed_missing_and_extra_keys() -> None:
    want = {("variant", "IN", "1"): (2, D("3.10")), ("variant", "IN", "2"): (1, D("1.00"))}
    got = {("variant", "IN", "1"): (2, D("3.11")), ("variant", "US", "9"): (1, D("1.00"))}
    problems = total_differences(got, want)
    assert len(problems) == 3
    assert total_differences(want, dict(want)) == []
    assert total_differences({}, {("v", "s", str(i)): (i, D(i)) for i in range(9)},
                             limit=2)[-1] == "... and 7 more"


def test_a_board_is_right_when_it_holds_the_largest_values_any_order_among_ties() -> None:
    totals = {"a": (5, D("1.00")), "b": (5, D("9.00")), "c": (1, D("2.00"))}
    board = [Entry(1, "b", 5, D("9.00")), Entry(2, "a", 5, D("1.00"))]
    assert board_problems(board, totals, "quantity", 2) == []
    assert board_problems(ranked([(5, D("1.00"), "a"), (5, D("9.00"), "b")], "quantity"),
                          totals, "quantity", 2) == []
    assert board_problems(board, totals, "revenue", 2)  # by revenue, c (2.00) beats a


def test_a_board_with_a_wrong_amount_a_gap_or_too_few_rows_is_wrong() -> None:
    totals = {"a": (5, D("1.00")), "b": (4, D("2.00")), "c": (1, D("3.00"))}
    assert board_problems([Entry(1, "a", 5, D("1.01")), Entry(2, "b", 4, D("2.00"))],
                          totals, "quantity", 2)
    assert board_problems([Entry(1, "a", 5, D("1.00")), Entry(3, "b", 4, D("2.00"))],
                          totals, "quantity", 2)
    assert board_problems([Entry(1, "a", 5, D("1.00"))], totals, "quantity", 2)
    with pytest.raises(ValueError, match="unknown metric"):
        board_problems([], totals, "price", 2)


def test_ranked_orders_by_the_metric_largest_first() -> None:
    rows = [(1, D("9.00"), "x"), (3, D("1.00"), "y")]
    assert [e.item for e in ranked(rows, "quantity")] == ["y", "x"]
    assert [(e.rank, e.item) for e in ranked(rows, "revenue")] == [(1, "x"), (2, "y")]


def _stream(cold: float, cpu: float) -> dict[str, object]:
    return {"events": 1_000_000, "drain_cold_events_per_s": cold, "drain_events_per_s": 30000,
            "drain_seconds": 1e6 / cold, "drain_first_batch_s": 17.0,
            "drain_cpu_s_per_million": cpu, "drain_kafka_cpu_s": 2.0,
            "drain_cassandra_cpu_s": 10.0, "stream_peak_rss_mib": 1300, "exact": True}


def _peer(rate: float, cpu: float, exact: bool = True) -> dict[str, object]:
    return {"peer_flink_events_per_s": rate, "peer_flink_events_per_s_after_submit": rate,
            "peer_flink_seconds": 1e6 / rate, "peer_flink_startup_s": 6.0,
            "peer_flink_cpu_s_per_million": cpu, "peer_flink_kafka_cpu_s": 4.0,
            "peer_flink_cassandra_cpu_s": 1.0, "peer_flink_peak_rss_mib": 1200,
            "peer_flink_exact": exact}


def test_the_table_shows_medians_ratios_and_exactness() -> None:
    table, figures = side_by_side([_stream(20000, 70), _stream(24000, 60)],
                                  [_peer(40000, 50), _peer(36000, 45, exact=False)])
    assert figures["peer_flink_events_per_s"] == 38000
    assert figures["peer_flink_cpu_s_per_million"] == 47.5
    assert figures["drain_cpu_s_per_million"] == 65.0
    assert figures["drain_vs_peer_flink_from_start"] == round(22000 / 38000, 3)
    assert figures["peer_flink_exact"] is False
    assert "| events/s from process start | 22,000.0 | 38,000.0 | 0.58x |" in table
    assert "| CPU s per 1M events, with Kafka and Cassandra | 77.0 | 52.5 | 1.47x |" in table


def _step(rate: float, placed: float, p50: float, p99: float, cpu: float,
          behind: bool = False) -> dict[str, object]:
    return {"rate_target": rate, "orders_per_s": placed, "latency_p50_s": p50,
            "latency_p99_s": p99, "latency_unseen": 0, "stream_cpu_ms_per_order": cpu,
            **({"stopped_behind_schedule": True} if behind else {})}


def test_the_latency_table_puts_both_step_runs_rate_by_rate() -> None:
    table = latency_side_by_side(
        [_step(100, 100, 0.3, 0.6, 9.1), _step(300, 299.5, 0.35, 0.71, 3.3)],
        [_step(100, 99.8, 0.7, 1.5, 13.0), _step(300, 148, 13.1, 15.1, 5.4, behind=True),
         _step(500, 120, 40.0, 50.0, 6.0, behind=True)])
    lines = table.splitlines()
    assert len(lines) == 5 and all(line.count("|") == 10 for line in lines)
    assert lines[2] == "| 100 | 100 | 0.3 / 0.6 | 0 | 9.1 | 100 | 0.7 / 1.5 | 0 | 13.0 |"
    assert lines[3].endswith("| 148 (fell behind) | 13.1 / 15.1 | 0 | 5.4 |")
    assert lines[4].startswith("| 500 | not run | | | | 120 (fell behind) |")


def test_window_differences_name_what_differs_and_ignore_zero_rows() -> None:
    stream = {("GLOBAL", 3600): {"7": (3, D("30.00")), "8": (0, D("0.00"))},
              ("DE", 3600): {"7": (1, D("10.00"))}}
    assert window_differences({("GLOBAL", 3600): {"7": (3, D("30.00"))},
                               ("DE", 3600): {"7": (1, D("10.00"))}}, stream) == []
    problems = window_differences({("GLOBAL", 3600): {"7": (3, D("30.01"))}}, stream)
    assert problems == ["('window 3600', 'DE', '7'): got None, want (1, Decimal('10.00'))",
                        "('window 3600', 'GLOBAL', '7'): got (3, Decimal('30.01')), "
                        "want (3, Decimal('30.00'))"]
