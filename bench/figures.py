"""Where the benchmarks' figures go: ``<state_dir>/bench/latest.json`` (``make bench``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from topproducts.settings import get_settings


def latest() -> Path:
    return get_settings().state_dir / "bench" / "latest.json"


def add_merge_option(ap: argparse.ArgumentParser) -> None:
    """``--merge [PATH]``: add this script's figures to PATH (default :func:`latest`)."""
    ap.add_argument("--merge", type=Path, nargs="?", default=None, const=latest(),
                    help="add the figures to this JSON file (created if missing; without a "
                         "path: <state_dir>/bench/latest.json, what `make bench` writes)")


def merge(path: Path, figures: dict[str, Any]) -> None:
    """Add ``figures`` to the JSON object in ``path`` (created if missing)."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(figures)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"== added to {path}")
