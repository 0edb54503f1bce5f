"""The layers: the shared package, the API and Dagster never import the Spark job's
package (``streaming/``); it imports them. Reading a setting must not load pyspark."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", ["topproducts", "services", "topproducts_assets"])
def test_never_imports_the_streaming_job(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path)
                                            if m == "streaming" or m.startswith("streaming."))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {p: m for p, m in offenders.items() if m} == {}


def test_the_check_sees_an_import() -> None:
    source = ROOT / "streaming" / "job.py"
    assert any(m.startswith("streaming.") for m in imported_modules(source))
