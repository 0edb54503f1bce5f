"""The Dagster code location as a snapshot: asset keys with their dependencies, kinds of
partitions and checks; jobs; schedules with their cron; sensors. A change to any of them
fails here until the snapshot is rewritten on purpose:

    .venv/bin/python -m tests.unit.test_definitions_snapshot   # rewrites the snapshot

so a refactor that drops a check or a dependency edge (the lineage the UI shows) is seen in
review, not in the UI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def snapshot() -> dict[str, Any]:
    from topproducts_assets.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    checks: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "partitions": None if node.partitions_def is None
            else type(node.partitions_def).__name__,
            "observable": node.is_observable,
            "checks": sorted(checks.get(key.to_user_string(), [])),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": {s.name: {"cron": s.cron_schedule, "job": s.job_name}
                      for s in sorted(repo.schedule_defs, key=lambda s: s.name)},
        "sensors": sorted(s.name for s in repo.sensor_defs),
    }


def test_the_code_location_matches_its_snapshot() -> None:
    assert SNAPSHOT.exists(), "no snapshot: run python -m tests.unit.test_definitions_snapshot"
    assert snapshot() == json.loads(SNAPSHOT.read_text()), (
        "the Dagster definitions changed: if on purpose, rewrite the snapshot with "
        "`.venv/bin/python -m tests.unit.test_definitions_snapshot` and review its diff")


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(snapshot(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}")
