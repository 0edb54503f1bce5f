"""The step run's verdict (``bench.latency.capacity``): the highest rate up to which every
step kept p99 within the limit, saw every probe and kept its schedule."""

from bench.latency import capacity, percentile


def step(rate: float, p99: float | None, unseen: int = 0, behind: bool = False) -> dict:
    out = {"rate_target": rate, "latency_p99_s": p99, "latency_unseen": unseen}
    if behind:
        out["stopped_behind_schedule"] = True
    return out


def test_capacity_is_the_last_rate_before_the_first_step_over_the_limit() -> None:
    steps = [step(100, 0.6), step(200, 0.8), step(300, 1.2), step(500, 0.9)]
    assert capacity(steps) == 200  # 500 under the limit again does not count: 300 failed
    assert capacity(steps, p99_limit_s=1.5) == 500
    assert capacity([step(100, 1.0)]) == 100  # at the limit is within it


def test_an_unseen_probe_or_a_lost_schedule_ends_the_capacity() -> None:
    assert capacity([step(100, 0.5), step(200, 0.5, unseen=1)]) == 100
    assert capacity([step(100, 0.5), step(200, 0.5, behind=True)]) == 100
    assert capacity([step(100, None)]) is None  # nothing seen at all
    assert capacity([]) is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (
        50.0, 99.0, 100.0)
    assert percentile([], 0.5) is None
