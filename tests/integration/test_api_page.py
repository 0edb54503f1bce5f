"""The live page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Load the page, switch metric, country and window, see the chart; place an order
through the API, write the new totals to Cassandra the way the stream does, and
see the numbers move. Screenshots go to ``artifacts/`` (git-ignored).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import uvicorn

from services.app import create_app
from services.testing import isolated_shop
from tests.conftest import free_port
from tests.integration.conftest import write_leaderboard
from topproducts.leaderboards import (
    ALL,
    ItemTotal,
    Window,
    current_window_start,
    open_store,
    parse_duration,
)
from topproducts.settings import REPO_ROOT, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = REPO_ROOT / "artifacts"


@pytest.fixture(scope="module")
def shop(running_stack: Settings) -> Iterator[Settings]:
    with isolated_shop(running_stack, customers=20, products=12) as s:
        yield s


@pytest.fixture(scope="module")
def base_url(shop: Settings) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(shop), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="module")
def catalogue(base_url: str) -> dict[int, dict]:
    """Every variant of the shop, by id (names and materials as the stream carries them)."""
    variants = {}
    products = httpx.get(f"{base_url}/products", params={"limit": 200}).json()["items"]
    for p in products:
        for v in httpx.get(f"{base_url}/products/{p['product_id']}").json()["variants"]:
            variants[v["variant_id"]] = v
    return variants


class FakeStream:
    """Writes absolute totals and ranks the way the streaming job's sink does."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.totals: dict[tuple[str, Window], dict[int, ItemTotal]] = {}

    def add(self, scope: str, window: Window, variant: dict, quantity: int,
            revenue_usd: Decimal) -> None:
        items = self.totals.setdefault((scope, window), {})
        old = items.get(variant["variant_id"]) or ItemTotal(
            variant["variant_id"], variant["product_id"], variant["product_name"],
            variant["material"], 0, Decimal("0.00"))
        items[old.variant_id] = replace(old, quantity=old.quantity + quantity,
                                        revenue_usd=old.revenue_usd + revenue_usd)

    def flush(self) -> None:
        now = datetime.now(UTC)
        with open_store(self.settings, create=False) as store:
            for (scope, window), items in self.totals.items():
                write_leaderboard(store, scope, window, items.values(), self.settings.top_n,
                                  now)


def current_window(s: Settings) -> Window:
    duration = parse_duration(s.window_duration)
    start = current_window_start(datetime.now(UTC), duration, parse_duration(s.window_slide))
    return Window(start, start + duration)


@pytest.fixture(scope="module")
def stream(shop: Settings, catalogue: dict[int, dict]) -> FakeStream:
    """A believable starting board: skewed sales over the catalogue, IN and US."""
    fake = FakeStream(shop)
    window = current_window(shop)
    spread = sorted(catalogue, key=lambda vid: (vid * 7919) % 1009)  # mix products up
    for i, v in enumerate(catalogue[vid] for vid in spread):
        quantity = max(1, 240 // (i + 2) + (i * 7) % 11)
        revenue = (Decimal(v["price_usd"]) * quantity).quantize(Decimal("0.01"))
        country = "IN" if i % 3 else "US"
        for scope in ("GLOBAL", country):
            fake.add(scope, ALL, v, quantity, revenue)
            if i % 2 == 0:
                fake.add(scope, window, v, quantity // 3 + 1, revenue / 3)
    for items in fake.totals.values():  # revenue in cents, as the stream keeps it
        for vid, it in items.items():
            items[vid] = replace(it, revenue_usd=it.revenue_usd.quantize(Decimal("0.01")))
    fake.flush()
    return fake


def values(page) -> dict[int, str]:
    return {int(r.get_attribute("data-variant")): r.locator(".value").inner_text()
            for r in page.locator("#chart .row").all()}


def test_live_page(browser, base_url: str, shop: Settings, stream: FakeStream,
                   catalogue: dict[int, dict]):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1200, "height": 960})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url)
            if not r.url.startswith(base_url) and not r.url.startswith("data:") else None)

    page.goto(base_url + "/")
    page.wait_for_selector("#chart .row")
    from playwright.sync_api import expect
    expect(page.locator("#status")).to_have_attribute("data-state", "live")
    expect(page.locator("#chart .row")).to_have_count(shop.top_n)
    expect(page.locator("#board-title")).to_have_text("Units sold · All countries · All time")

    # The chart is the API's board, in rank order, with product names and materials.
    board = httpx.get(f"{base_url}/leaderboards/quantity").json()
    first = page.locator("#chart .row").first
    expect(first.locator(".product")).to_have_text(board["entries"][0]["product_name"])
    expect(first.locator(".material")).to_have_text(board["entries"][0]["material"])
    assert [int(x) for x in page.locator("#chart .row").evaluate_all(
        "rows => rows.map(r => r.dataset.variant)")] == [e["variant_id"] for e in
                                                         board["entries"]]
    widths = page.locator("#chart .bar").evaluate_all(
        "bars => bars.map(b => parseFloat(b.style.width))")
    assert widths[0] == 100 and widths == sorted(widths, reverse=True)

    # Revenue: currency formatting.
    page.get_by_role("radio", name="Revenue").click()
    expect(page.locator("#board-title")).to_have_text("Revenue · All countries · All time")
    revenue = httpx.get(f"{base_url}/leaderboards/revenue").json()["entries"]
    top_value = revenue[0]["value"]
    integer, cents = top_value.split(".")
    expect(first.locator(".value")).to_have_text(f"${int(integer):,}.{cents}")
    page.wait_for_timeout(900)
    page.screenshot(path=str(ARTIFACTS / "leaderboard.png"))

    # Country and window selectors.
    page.select_option("#scope", "IN")
    expect(page.locator("#board-title")).to_contain_text("Revenue · India")
    in_board = httpx.get(f"{base_url}/leaderboards/revenue", params={"scope": "IN"}).json()
    expect(page.locator("#chart .row")).to_have_count(len(in_board["entries"]))
    page.select_option("#window", "current")
    window = current_window(shop)
    in_window = httpx.get(f"{base_url}/leaderboards/revenue",
                          params={"scope": "IN", "window": "current"}).json()
    expect(page.locator("#chart .row")).to_have_count(len(in_window["entries"]))
    expect(page.locator("#board-title")).not_to_contain_text("All time")
    assert window.id in page.locator("#window option").evaluate_all(
        "options => options.map(o => o.value)")
    assert "window=current" in page.url and "scope=IN" in page.url
    page.wait_for_timeout(900)  # let the bars settle
    page.screenshot(path=str(ARTIFACTS / "leaderboard-in-current.png"))

    # A new order moves the numbers: place it through the API, let "the stream" count it.
    page.get_by_role("radio", name="Units sold").click()
    page.select_option("#scope", "GLOBAL")
    page.select_option("#window", "all")
    expect(page.locator("#board-title")).to_have_text("Units sold · All countries · All time")
    last = page.locator("#chart .row").last
    underdog = int(last.get_attribute("data-variant"))
    before = values(page)
    order = httpx.post(f"{base_url}/orders", headers={"X-API-Key": shop.api_key}, json={
        "customer_id": 2, "lines": [{"variant_id": underdog, "quantity": 5}]})
    assert order.status_code == 201, order.text
    line = order.json()["order"]["lines"][0]
    # The stream adds the line; a few more such orders make it the best seller.
    leader = int(page.locator("#chart .row").first.get_attribute("data-variant"))
    leader_units = stream.totals[("GLOBAL", ALL)][leader].quantity
    boost = leader_units - stream.totals[("GLOBAL", ALL)][underdog].quantity + 1
    stream.add("GLOBAL", ALL, catalogue[underdog], max(boost, line["quantity"]),
               Decimal(line["revenue_usd"]))
    stream.flush()
    first_row = page.locator("#chart .row").first
    expect(first_row).to_have_attribute("data-variant", str(underdog), timeout=10_000)
    after = values(page)
    assert after[underdog] != before[underdog]
    assert int(after[underdog].replace(",", "")) == (
        stream.totals[("GLOBAL", ALL)][underdog].quantity)
    expect(page.locator("#updated")).to_have_text("just now")
    page.wait_for_timeout(900)
    page.screenshot(path=str(ARTIFACTS / "leaderboard-moved.png"))

    assert not errors, errors
    assert not external, f"the page fetched outside the app: {external}"
    page.close()

