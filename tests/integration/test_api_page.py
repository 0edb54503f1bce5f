"""The live page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Load the page, switch granularity, metric, country and window, see the chart; place an
order through the API, write the new totals to Cassandra the way the stream does, and
see the numbers move within a second (pushed); with the push blocked, the page polls.
Screenshots go to ``artifacts/`` (git-ignored).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from services.app import create_app
from streaming.store import StreamStore
from tests.support.leaderboards import write_leaderboard
from tests.support.sandbox import seeded_sandbox
from tests.support.serving import serving
from topproducts.leaderboards import (
    ALL,
    ItemTotal,
    Window,
    current_window_start,
    parse_duration,
)
from topproducts.settings import REPO_ROOT, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = REPO_ROOT / "artifacts"


@pytest.fixture(scope="module")
def shop(running_stack: Settings) -> Iterator[Settings]:
    with seeded_sandbox(running_stack, customers=20, products=12) as s:
        yield s


@pytest.fixture(scope="module")
def base_url(shop: Settings) -> Iterator[str]:
    with serving(create_app(shop)) as url:
        yield url


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
    """Writes absolute variant totals and the boards of every granularity the way the
    streaming job's sink does."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.totals: dict[tuple[str, Window], dict[int, ItemTotal]] = {}

    def add(self, scope: str, window: Window, variant: dict, quantity: int,
            revenue_usd: Decimal) -> None:
        items = self.totals.setdefault((scope, window), {})
        old = items.get(variant["variant_id"]) or ItemTotal(
            variant["product_id"], variant["product_name"], variant["material"],
            variant["variant_id"], variant["seller_name"], 0, Decimal("0.00"))
        items[variant["variant_id"]] = replace(old, quantity=old.quantity + quantity,
                                               revenue_usd=old.revenue_usd + revenue_usd)

    def units(self, scope: str, window: Window, product_id: int, material: str) -> int:
        """Units of a (product, material): the sum over its sellers' variants."""
        return sum(v.quantity for v in self.totals[(scope, window)].values()
                   if (v.product_id, v.material) == (product_id, material))

    def flush(self) -> None:
        now = datetime.now(UTC)
        with StreamStore.opened(self.settings, create=False) as store:
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
    # The best sellers include both sellers of one (product, material): two rows on the
    # variant board, one on the product_material board.
    a, b = shared_pair(catalogue)
    spread = [a, b, *(vid for vid in spread if vid not in (a, b))]
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


def shared_pair(catalogue: dict[int, dict]) -> tuple[int, int]:
    """Two variants of one (product, material), from two sellers."""
    by_pair: dict[tuple[int, str], list[int]] = {}
    for vid, v in sorted(catalogue.items()):
        by_pair.setdefault((v["product_id"], v["material"]), []).append(vid)
    shared = [vids for vids in by_pair.values() if len(vids) > 1]
    assert shared, "the seeded catalogue has no (product, material) sold by two sellers"
    return shared[0][0], shared[0][1]


def values(page) -> dict[str, str]:
    return {r.get_attribute("data-key"): r.locator(".value").inner_text()
            for r in page.locator("#chart .row").all()}


def row_keys(page) -> list[str]:
    return page.locator("#chart .row").evaluate_all("rows => rows.map(r => r.dataset.key)")


def api_keys(board: dict) -> list[str]:
    """The page's row keys for an API board: product | material | variant."""
    return [f"{e['product_id']}|{e['material'] or ''}|{e['variant_id'] or ''}"
            for e in board["entries"]]


def watch(page, base_url: str) -> tuple[list[str], list[str]]:
    """Errors on the page, and requests that left the app."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url)
            if not r.url.startswith(base_url) and not r.url.startswith("data:") else None)
    return errors, external


def test_live_page(browser, base_url: str, shop: Settings, stream: FakeStream,
                   catalogue: dict[int, dict]):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1200, "height": 960})
    errors, external = watch(page, base_url)

    page.goto(base_url + "/")
    page.wait_for_selector("#chart .row")
    expect(page.locator("#status")).to_have_attribute("data-state", "live")
    expect(page.locator("#chart .row")).to_have_count(shop.top_n)
    expect(page.locator("#board-title")).to_have_text("Units sold · All countries · All time")
    expect(page.locator("#mode")).to_have_text("pushed when it changes")

    # The default: product × material, said in the selector and the footnote.
    expect(page.locator("#by")).to_have_value("product_material")
    expect(page.locator("#ranked")).to_have_text("product × material")
    assert page.locator("#by option").evaluate_all("os => os.map(o => o.value)") == [
        "product_material", "product", "variant"]

    # The chart is the API's board, in rank order, with product names and materials, and
    # no (product, material) twice.
    board = httpx.get(f"{base_url}/leaderboards/quantity").json()
    first = page.locator("#chart .row").first
    expect(first.locator(".product")).to_have_text(board["entries"][0]["product_name"])
    expect(first.locator(".material")).to_have_text(board["entries"][0]["material"])
    assert row_keys(page) == api_keys(board)
    pairs = page.locator("#chart .row").evaluate_all(
        "rows => rows.map(r => [r.dataset.product, r.dataset.material])")
    assert len({tuple(p) for p in pairs}) == len(pairs) == shop.top_n, pairs
    assert page.locator("#chart .row .seller:visible").count() == 0
    widths = page.locator("#chart .bar").evaluate_all(
        "bars => bars.map(b => parseFloat(b.style.width))")
    assert widths[0] == 100 and widths == sorted(widths, reverse=True)

    # Variants: one row per seller, the seller shown; the shared pair is two rows.
    page.select_option("#by", "variant")
    expect(page.locator("#ranked")).to_have_text("variant (product × material × seller)")
    variants = httpx.get(f"{base_url}/leaderboards/quantity", params={"by": "variant"}).json()
    expect(page.locator("#chart .row").first).to_have_attribute(
        "data-key", api_keys(variants)[0])
    assert row_keys(page) == api_keys(variants)
    a, b = shared_pair(catalogue)
    for vid in (a, b):
        row = page.locator(f'#chart .row[data-variant="{vid}"]')
        expect(row.locator(".seller")).to_have_text(f"sold by {catalogue[vid]['seller_name']}")
        expect(row.locator(".material")).to_have_text(catalogue[vid]["material"])
    assert "by=variant" in page.url
    page.wait_for_timeout(900)
    page.screenshot(path=str(ARTIFACTS / "leaderboard-variants.png"))

    # Products: no material, no seller.
    page.select_option("#by", "product")
    expect(page.locator("#ranked")).to_have_text("product")
    products = httpx.get(f"{base_url}/leaderboards/quantity", params={"by": "product"}).json()
    expect(page.locator("#chart .row").first).to_have_attribute(
        "data-key", api_keys(products)[0])
    assert row_keys(page) == api_keys(products)
    assert page.locator("#chart .row .material:visible").count() == 0
    page.select_option("#by", "product_material")

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
    in_window = httpx.get(f"{base_url}/leaderboards/revenue",
                          params={"scope": "IN", "window": "current"}).json()
    expect(page.locator("#chart .row")).to_have_count(len(in_window["entries"]))
    expect(page.locator("#board-title")).not_to_contain_text("All time")
    # The windows that have boards are offered: the one the fixture wrote (the current
    # window when it ran, which a 5-minute slide may have passed since).
    written = {w.id for scope, w in stream.totals if scope == "IN" and w != ALL}
    offered = page.locator("#window option").evaluate_all(
        "options => options.map(o => o.value)")
    assert written and written <= set(offered), (written, offered)
    assert "window=current" in page.url and "scope=IN" in page.url
    page.wait_for_timeout(900)  # let the bars settle
    page.screenshot(path=str(ARTIFACTS / "leaderboard-in-current.png"))

    # A new order moves the numbers: place it through the API, let "the stream" count it,
    # and the page shows it within a second of Cassandra having it (pushed, not polled).
    page.get_by_role("radio", name="Units sold").click()
    page.select_option("#scope", "GLOBAL")
    page.select_option("#window", "all")
    expect(page.locator("#board-title")).to_have_text("Units sold · All countries · All time")
    last = page.locator("#chart .row").last
    product, material = int(last.get_attribute("data-product")), last.get_attribute(
        "data-material")
    underdog = next(vid for vid, v in sorted(catalogue.items())
                    if (v["product_id"], v["material"]) == (product, material))
    key = f"{product}|{material}|"
    before = values(page)
    order = httpx.post(f"{base_url}/orders", headers={"X-API-Key": shop.api_key}, json={
        "customer_id": 2, "lines": [{"variant_id": underdog, "quantity": 5}]})
    assert order.status_code == 201, order.text
    line = order.json()["order"]["lines"][0]
    # The stream adds the line; a few more such orders make it the best seller.
    leader = page.locator("#chart .row").first
    leader_units = stream.units("GLOBAL", ALL, int(leader.get_attribute("data-product")),
                                leader.get_attribute("data-material"))
    boost = leader_units - stream.units("GLOBAL", ALL, product, material) + 1
    stream.add("GLOBAL", ALL, catalogue[underdog], max(boost, line["quantity"]),
               Decimal(line["revenue_usd"]))
    stream.flush()
    written = time.monotonic()
    page.wait_for_function("key => document.querySelector('#chart .row').dataset.key === key",
                           arg=key, timeout=10_000, polling="raf")
    shown = time.monotonic() - written
    after = values(page)
    assert after[key] != before[key]
    assert int(after[key].replace(",", "")) == stream.units("GLOBAL", ALL, product, material)
    expect(page.locator("#updated")).to_have_text("just now")
    assert shown < 1.0, f"the page showed the changed board {shown:.2f} s after the write"
    page.wait_for_timeout(900)
    page.screenshot(path=str(ARTIFACTS / "leaderboard-moved.png"))

    assert not errors, errors
    assert not external, f"the page fetched outside the app: {external}"
    page.close()


def test_page_polls_when_the_push_fails(browser, base_url: str, shop: Settings,
                                        stream: FakeStream):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1200, "height": 960})
    errors, _ = watch(page, base_url)
    page.route("**/stream?*", lambda route: route.abort())
    page.goto(base_url + "/?metric=revenue&by=product&scope=US")
    expect(page.locator("#mode")).to_have_text("refreshes every 2 s")
    expect(page.locator("#status")).to_have_attribute("data-state", "live")
    board = httpx.get(f"{base_url}/leaderboards/revenue",
                      params={"by": "product", "scope": "US"}).json()
    expect(page.locator("#chart .row")).to_have_count(len(board["entries"]))
    assert row_keys(page) == api_keys(board)
    expect(page.locator("#by")).to_have_value("product")
    # A new selection while the push is broken polls too; once the push works again,
    # the page goes back to it (it retries every 15 s).
    page.select_option("#by", "variant")
    expect(page.locator("#mode")).to_have_text("refreshes every 2 s")
    variants = httpx.get(f"{base_url}/leaderboards/revenue",
                         params={"by": "variant", "scope": "US"}).json()
    expect(page.locator("#chart .row").first).to_have_attribute(
        "data-key", api_keys(variants)[0])
    page.unroute("**/stream?*")
    expect(page.locator("#mode")).to_have_text("pushed when it changes", timeout=20_000)
    expect(page.locator("#status")).to_have_attribute("data-state", "live")
    page.close()
    # A failed EventSource logs a console error in Chromium; nothing else may.
    assert all("stream" in e or "ERR_FAILED" in e for e in errors), errors
