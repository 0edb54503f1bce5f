"""End to end, every part real: an order placed through the API (MySQL + outbox -> Kafka) is
counted by the Spark stream, lands in Cassandra and shows in the API's leaderboard, in the
customer's country and globally; cancelling it through the API takes it back out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from tests.support.sandbox import seeded_sandbox
from topproducts import reconcile
from topproducts import stream_control as process
from topproducts.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def shop(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Settings]:
    with seeded_sandbox(running_stack, customers=20, products=10,
                        state_dir=tmp_path_factory.mktemp("e2e")) as s:  # stops the stream
        s = s.replace(stream_trigger_seconds=1.0, spark_ui_port=4095)
        process.start(s)
        yield s


@pytest.fixture(scope="module")
def client(shop: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(shop)) as c:  # publishes its events to Kafka
        c.headers["X-API-Key"] = shop.api_key
        yield c


def item(client: TestClient, variant_id: int, scope: str) -> tuple[int, Decimal]:
    response = client.get(f"/leaderboards/items/{variant_id}", params={"scope": scope})
    if response.status_code == 404:
        return 0, Decimal("0.00")
    body = response.json()
    return body["quantity"], Decimal(body["revenue_usd"])


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_api_order_reaches_the_leaderboard_and_cancelling_retracts_it(
        client: TestClient, shop: Settings) -> None:
    customer = client.get("/customers/7").json()
    country = customer["address"]["country"]
    variant = client.get("/products/3").json()["variants"][0]
    vid = variant["variant_id"]
    before = {scope: item(client, vid, scope) for scope in ("GLOBAL", country)}

    response = client.post("/orders", json={
        "customer_id": 7, "lines": [{"variant_id": vid, "quantity": 3}],
        "payment_mode": "prepaid", "payment_method": "card"})
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert order["status"] == "confirmed" and response.json()["events"]["published"]
    revenue_usd = Decimal(order["lines"][0]["revenue_usd"])

    for scope in ("GLOBAL", country):
        qty, rev = before[scope]
        wait_for(lambda scope=scope, qty=qty, rev=rev:
                 item(client, vid, scope) == (qty + 3, rev + revenue_usd),
                 f"variant {vid} +3 units, +{revenue_usd} USD in {scope}")
    # the ranks are written right after the totals, in the same batch
    wait_for(lambda: vid in {e["variant_id"] for e in client.get(
        "/leaderboards/quantity", params={"scope": country, "limit": 100, "by": "variant"}
    ).json()["entries"]},
        f"variant {vid} ranked in {country}", timeout=30)

    cancelled = client.post(f"/orders/{order['order_id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    for scope in ("GLOBAL", country):
        wait_for(lambda scope=scope: item(client, vid, scope) == before[scope],
                 f"variant {vid} back to {before[scope]} in {scope}")

    for kind in (reconcile.ALL_TIME, "windows"):
        report = reconcile.run(shop, kind, wait_seconds=120)
        assert report.passed, report.summary()
