"""Jars from Maven Central, resolved by ``mvn`` from the poms under ``infra/maven/``.

The jars live in ``~/.m2`` (Maven's own cache, never the repo). The resolved
classpath is cached in the state folder, keyed by the pom's content, so a later
start costs no Maven run.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

from topproducts.errors import StackError
from topproducts.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

POMS = REPO_ROOT / "infra" / "maven"
COMPONENTS = ("kafka", "cassandra", "spark-kafka")


def pom(component: str) -> Path:
    return POMS / component / "pom.xml"


def classpath(component: str, settings: Settings) -> list[str]:
    """The jar paths of a component (resolving them with mvn when needed)."""
    pom_file = pom(component)
    digest = hashlib.sha256(pom_file.read_bytes()).hexdigest()[:16]
    cache = settings.state_dir / "classpath" / f"{component}-{digest}.txt"
    if cache.exists():
        jars = cache.read_text().strip().split(":")
        if jars and all(Path(j).exists() for j in jars):
            return jars
    return _resolve(component, pom_file, cache)


def _resolve(component: str, pom_file: Path, cache: Path) -> list[str]:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("mvn not found: run `make setup` (installs Debian's maven)")
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    log.info("resolving %s jars from Maven Central (cached in ~/.m2)", component)
    result = subprocess.run(
        [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(pom_file),
         "dependency:build-classpath", f"-Dmdep.outputFile={tmp}"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0 or not tmp.exists():
        errors = [ln for ln in result.stdout.splitlines() if "ERROR" in ln] or [result.stderr]
        raise StackError(f"cannot resolve {component} jars from {pom_file}: {errors[0].strip()}")
    tmp.replace(cache)
    return cache.read_text().strip().split(":")
