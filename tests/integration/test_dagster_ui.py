"""The Dagster UI, for real: the webserver loads workspace.yaml, and headless Chromium sees
the whole lineage MySQL -> Kafka -> Spark -> Cassandra. Screenshot: artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port
from topproducts.settings import REPO_ROOT, Settings
from topproducts.stack import dagster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ASSETS = ["fx_rates", "catalogue", "customers", "order_events", "leaderboard_stream",
          "leaderboard_quantity_all_time", "leaderboard_revenue_all_time",
          "leaderboard_quantity_windowed", "leaderboard_revenue_windowed", "dead_letter_events"]


@pytest.fixture(scope="module")
def webserver(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Settings]:
    settings = running_stack.replace(state_dir=Path(tmp_path_factory.mktemp("dagster-ui")),
                                     dagster_port=free_port())
    dagster.start(settings)
    try:
        yield settings
    finally:
        assert set(dagster.stop(settings)) == {dagster.WEBSERVER, dagster.DAEMON}
        assert dagster.running(settings) == {dagster.WEBSERVER: None, dagster.DAEMON: None}


def test_every_definition_loads_in_the_webserver(webserver: Settings) -> None:
    query = """{ workspaceOrError { ... on Workspace { locationEntries {
        name locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    data = httpx.post(dagster.graphql_url(webserver), json={"query": query}, timeout=30).json()
    (entry,) = data["data"]["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "topproducts"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    nodes = httpx.post(dagster.graphql_url(webserver), timeout=30, json={
        "query": "{ assetNodes { assetKey { path } dependencyKeys { path } } }"}).json()
    deps = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]}
            for n in nodes["data"]["assetNodes"]}
    assert set(ASSETS) <= set(deps)
    assert deps["leaderboard_stream"] == {"order_events"}
    assert deps["leaderboard_revenue_windowed"] == {"leaderboard_stream"}


def test_lineage_page_in_headless_chromium(webserver: Settings, browser) -> None:
    # tall enough that the graph is not zoomed out (zoomed out, names are cut short)
    page = browser.new_page(viewport={"width": 1800, "height": 1400})
    url = (f"http://{webserver.dagster_host}:{webserver.dagster_port}/assets/"
           "leaderboard_stream?view=lineage&lineageScope=neighbors&lineageDepth=5")
    page.goto(url)
    for name in ASSETS:
        page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
    for kind in ("MySQL", "Kafka", "Spark", "Cassandra"):
        assert page.get_by_text(kind, exact=True).count() > 0, kind
    skip = page.get_by_text("Skip", exact=True)  # the first-visit newsletter dialog
    if skip.count():
        skip.click()
    (REPO_ROOT / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(REPO_ROOT / "artifacts" / "dagster-lineage.png"))
    page.close()
