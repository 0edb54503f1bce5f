"""Start-up sync of progress rows with the checkpoints (a crash between a batch's commit and
its progress row must not leave the monitor believing events are waiting)."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from streaming.progress import committed, parse_offsets_log, sync_committed

ENTRY = ('v1\n{"batchWatermarkMs":0,"batchTimestampMs":1795600629013,"conf":{}}\n'
         '{"t.orders":{"0":175,"1":198,"2":155}}')


def write_batch(checkpoint: Path, batch: int, offsets: str, commit: bool = True) -> None:
    (checkpoint / "offsets").mkdir(parents=True, exist_ok=True)
    (checkpoint / "commits").mkdir(parents=True, exist_ok=True)
    (checkpoint / "offsets" / str(batch)).write_text(
        f'v1\n{{"batchWatermarkMs":0}}\n{offsets}')
    (checkpoint / "offsets" / f".{batch}.crc").write_text("x")
    if commit:
        (checkpoint / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}')


def test_parse_offsets_log() -> None:
    assert parse_offsets_log(ENTRY) == {"t.orders": {"0": 175, "1": 198, "2": 155}}
    with pytest.raises(ValueError):
        parse_offsets_log("v2\n{}")


def test_last_committed_batch_wins_over_a_planned_one(tmp_path: Path) -> None:
    assert committed(tmp_path / "none") is None
    write_batch(tmp_path, 0, '{"t.orders":{"0":10}}')
    write_batch(tmp_path, 1, '{"t.orders":{"0":20}}')
    write_batch(tmp_path, 2, '{"t.orders":{"0":30}}', commit=False)  # planned, not committed
    assert committed(tmp_path) == (1, {"t.orders": {"0": 20}})


class Store:
    def __init__(self) -> None:
        self.synced: list[tuple] = []

    def sync_committed(self, query, batch_id, end_offsets, now) -> None:
        self.synced.append((query, batch_id, end_offsets))


def test_sync_writes_the_committed_batch_and_nothing_without_one(tmp_path: Path) -> None:
    write_batch(tmp_path / "leaderboards", 1, '{"t.orders":{"1":198,"0":175}}')
    store = Store()
    sync_committed(store, tmp_path, "leaderboards", datetime.now(UTC))
    sync_committed(store, tmp_path, "never_committed", datetime.now(UTC))
    assert store.synced == [("leaderboards", 1, '{"t.orders": {"0": 175, "1": 198}}')]
