"""The API against the real MariaDB and Kafka: orders, payments, shipments, customers, stock.

The app is built from isolated settings (own databases, topics, keyspace), so
what a test sees in MySQL and Kafka is what its own requests did.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from tests.support.kafka import read_events
from tests.support.sandbox import seeded_sandbox
from topproducts import db
from topproducts.events import EventType
from topproducts.settings import Settings
from topproducts.shop.schema import Tables

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shop(running_stack: Settings) -> Iterator[Settings]:
    with seeded_sandbox(running_stack, customers=12, products=8) as s:
        yield s


@pytest.fixture(scope="module")
def client(shop: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(shop, publish_events=False)) as c:
        c.headers["X-API-Key"] = shop.api_key
        yield c


def _variant(client: TestClient, product_id: int = 1, index: int = 0) -> dict:
    return client.get(f"/products/{product_id}").json()["variants"][index]


def _sql(s: Settings, query: str, params: tuple = ()) -> list[tuple]:
    with db.transaction(s) as conn, conn.cursor() as cur:
        cur.execute(query.format(t=Tables.of(s)), params)
        return list(cur.fetchall())


def _of_order(order_id: int):
    return lambda events: [e for e in events if e.payload.get("order_id") == order_id]


def test_place_order_writes_mysql_and_publishes_to_kafka(client: TestClient, shop: Settings):
    v1, v2 = _variant(client, 1, 0), _variant(client, 2, 0)
    response = client.post("/orders", json={
        "customer_id": 3,
        "lines": [{"variant_id": v1["variant_id"], "quantity": 2},
                  {"variant_id": v2["variant_id"], "quantity": 1}],
        "payment_mode": "prepaid", "payment_method": "card",
    })
    assert response.status_code == 201, response.text
    receipt = response.json()
    order = receipt["order"]
    order_id = order["order_id"]
    assert response.headers["location"] == f"/orders/{order_id}"
    assert order["status"] == "confirmed"
    assert [x["quantity"] for x in order["lines"]] == [2, 1]
    assert order["payment"]["status"] == "paid"
    assert order["shipment"]["status"] == "Processing"
    assert receipt["events"] == {"written": 4, "published": True}

    # MySQL: the order, its lines and the stock it took.
    [(status, total)] = _sql(shop, "SELECT status, total FROM {t.orders} WHERE order_id = %s",
                             (order_id,))
    assert (status, f"{total:.2f}") == ("confirmed", order["total"])
    assert _sql(shop, "SELECT COUNT(*) FROM {t.order_items} WHERE order_id = %s",
                (order_id,)) == [(2,)]
    assert client.get(f"/variants/{v1['variant_id']}").json()["stock"] == v1["stock"] - 2

    # Kafka: the same facts, keyed by the order id.
    orders = _of_order(order_id)(read_events(
        shop, "orders", lambda ev: len(_of_order(order_id)(ev)) >= 2))
    assert [e.event_type for e in orders] == [EventType.ORDER_PLACED, EventType.ORDER_CONFIRMED]
    assert all(e.key == str(order_id) for e in orders)
    confirmed = orders[1].payload
    assert confirmed["total"] == order["total"]
    assert [(i["variant_id"], i["quantity"]) for i in confirmed["items"]] == [
        (v1["variant_id"], 2), (v2["variant_id"], 1)]
    payments = _of_order(order_id)(read_events(shop, "payments", _of_order(order_id)))
    assert [e.payload["status"] for e in payments] == ["paid"]


def test_order_reads_history_payment_shipment(client: TestClient):
    v = _variant(client, 3, 0)
    order = client.post("/orders", json={"customer_id": 4, "lines": [
        {"variant_id": v["variant_id"], "quantity": 1}]}).json()["order"]
    oid = order["order_id"]
    assert client.get(f"/orders/{oid}").json() == order
    history = client.get(f"/orders/{oid}/history").json()
    assert [h["status"] for h in history["history"]] == ["placed", "confirmed"]
    payment = client.get(f"/orders/{oid}/payment").json()
    assert payment["payment_id"] == order["payment"]["payment_id"]
    assert client.get(f"/payments/{payment['payment_id']}").json() == payment
    shipment = client.get(f"/orders/{oid}/shipment").json()
    assert [h["status"] for h in shipment["history"]] == ["Processing"]
    assert client.get(f"/shipments/{shipment['shipment_id']}").json() == shipment
    listed = client.get("/orders", params={"customer_id": 4}).json()
    assert oid in [o["order_id"] for o in listed["items"]]


def test_cancel_restores_stock_and_retracts(client: TestClient, shop: Settings):
    v = _variant(client, 4, 0)
    order = client.post("/orders", json={"customer_id": 5, "lines": [
        {"variant_id": v["variant_id"], "quantity": 3}]}).json()["order"]
    oid = order["order_id"]
    response = client.post(f"/orders/{oid}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["order"]["status"] == "cancelled"
    assert client.get(f"/variants/{v['variant_id']}").json()["stock"] == v["stock"]
    again = client.post(f"/orders/{oid}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_cancellable"
    events = _of_order(oid)(read_events(
        shop, "orders", lambda ev: any(e.event_type == EventType.ORDER_CANCELLED
                                       for e in _of_order(oid)(ev))))
    cancelled = [e for e in events if e.event_type == EventType.ORDER_CANCELLED]
    assert len(cancelled) == 1 and cancelled[0].payload["confirmed_at"] is not None


def test_declined_payment_cancels_at_once(client: TestClient):
    v = _variant(client, 5, 0)
    response = client.post("/orders", json={
        "customer_id": 6, "lines": [{"variant_id": v["variant_id"], "quantity": 1}],
        "payment_outcome": "declined"})
    assert response.status_code == 201
    order = response.json()["order"]
    assert (order["status"], order["payment"]["status"], order["shipment"]) == (
        "cancelled", "failed", None)
    assert client.get(f"/orders/{order['order_id']}/shipment").status_code == 404


def test_pay_on_delivery_payment_can_be_paid_once(client: TestClient, shop: Settings):
    v = _variant(client, 6, 0)
    order = client.post("/orders", json={
        "customer_id": 7, "lines": [{"variant_id": v["variant_id"], "quantity": 1}],
        "payment_mode": "pay_on_delivery", "payment_method": "cash"}).json()["order"]
    pid = order["payment"]["payment_id"]
    assert order["payment"]["status"] == "pending"
    paid = client.post(f"/payments/{pid}/pay")
    assert paid.status_code == 200, paid.text
    assert paid.json()["payment"]["status"] == "paid"
    twice = client.post(f"/payments/{pid}/pay")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "not_pending"
    oid = order["order_id"]
    events = _of_order(oid)(read_events(
        shop, "payments", lambda ev: len(_of_order(oid)(ev)) >= 2))
    assert [e.payload["status"] for e in events] == ["pending", "paid"]


def test_out_of_stock_is_409_and_changes_nothing(client: TestClient, shop: Settings):
    v = _variant(client, 7, 0)
    vid = v["variant_id"]
    assert client.put(f"/variants/{vid}/stock", json={"stock": 1}).json()["stock"] == 1
    before = _sql(shop, "SELECT COUNT(*) FROM {t.orders}")
    other = _variant(client, 8, 0)["variant_id"]
    response = client.post("/orders", json={"customer_id": 1, "lines": [
        {"variant_id": other, "quantity": 1}, {"variant_id": vid, "quantity": 2}]})
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "out_of_stock", "field": "lines[1].quantity",
        "message": f"variant {vid} is out of stock: 2 requested, 1 left"}
    assert _sql(shop, "SELECT COUNT(*) FROM {t.orders}") == before
    assert client.get(f"/variants/{vid}").json()["stock"] == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"lines": [{"variant_id": 10, "quantity": 1}]}, "customer_id"),
    ({"customer_id": 1, "lines": []}, "lines"),
    ({"customer_id": 1, "lines": [{"variant_id": 10, "quantity": 0}]}, "lines[0].quantity"),
    ({"customer_id": 1, "lines": [{"variant_id": 10, "quantity": 1},
                                  {"variant_id": 10, "quantity": 1}]}, "lines"),
    ({"customer_id": "x", "lines": [{"variant_id": 10, "quantity": 1}]}, "customer_id"),
    ({"customer_id": 1, "lines": [{"variant_id": 10, "quantity": 1}],
      "payment_mode": "barter"}, "payment_mode"),
    ({"customer_id": 1, "lines": [{"variant_id": 10, "quantity": 1}], "extra": 1}, "extra"),
])
def test_bad_order_input_is_422_naming_the_field(client: TestClient, body: dict, field: str):
    response = client.post("/orders", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == field
    assert error["message"]


def test_unknown_references_in_an_order_are_422(client: TestClient):
    vid = _variant(client, 1, 0)["variant_id"]
    unknown_customer = client.post("/orders", json={"customer_id": 99999, "lines": [
        {"variant_id": vid, "quantity": 1}]})
    assert unknown_customer.status_code == 422
    assert unknown_customer.json()["error"]["field"] == "customer_id"
    unknown_variant = client.post("/orders", json={"customer_id": 1, "lines": [
        {"variant_id": vid, "quantity": 1}, {"variant_id": 999999, "quantity": 1}]})
    assert unknown_variant.status_code == 422
    assert unknown_variant.json()["error"] == {
        "code": "unknown_variant", "field": "lines[1].variant_id",
        "message": "unknown product variant 999999"}


@pytest.mark.parametrize("path", ["/orders/999999", "/orders/999999/history",
                                  "/orders/999999/payment", "/orders/999999/shipment",
                                  "/payments/999999", "/shipments/999999", "/customers/999999",
                                  "/products/999999", "/variants/999999"])
def test_unknown_ids_are_404(client: TestClient, path: str):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_ids_in_writes_are_404(client: TestClient):
    assert client.post("/orders/999999/cancel").status_code == 404
    assert client.post("/payments/999999/pay").status_code == 404
    assert client.put("/variants/999999/stock", json={"stock": 1}).status_code == 404


def test_create_customer_and_update_address(client: TestClient, shop: Settings):
    address = {"street": "12 MG Road", "city": "Bengaluru", "state": "Karnataka",
               "postal_code": "560001", "country": "IN"}
    response = client.post("/customers", json={
        "first_name": "Asha", "last_name": "Rao", "email": "Asha.Rao@example.com",
        "phone": "+91 80 1234 5678", "address": address})
    assert response.status_code == 201, response.text
    customer = response.json()
    cid = customer["customer_id"]
    assert response.headers["location"] == f"/customers/{cid}"
    assert (customer["email"], customer["currency"], customer["address"]) == (
        "asha.rao@example.com", "INR", address)
    moved = client.put(f"/customers/{cid}/address", json={**address, "country": "GB",
                                                            "city": "London"})
    assert moved.status_code == 200
    assert (moved.json()["currency"], moved.json()["address"]["city"]) == ("GBP", "London")
    created = read_events(shop, "customers",
                          lambda ev: any(e.payload["customer_id"] == cid for e in ev))
    assert any(e.payload == {"customer_id": cid, "country": "IN", "city": "Bengaluru"}
               for e in created)
    bad = client.post("/customers", json={"first_name": "A", "last_name": "B",
                                          "email": "not-an-email", "phone": "1",
                                          "address": address})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "email")
    bad_country = client.put(f"/customers/{cid}/address", json={**address, "country": "FR"})
    assert (bad_country.status_code, bad_country.json()["error"]["field"]) == (422, "country")


def test_lists_page_with_limit_and_offset(client: TestClient):
    first = client.get("/customers", params={"limit": 5}).json()
    second = client.get("/customers", params={"limit": 5, "offset": 5}).json()
    assert (first["limit"], first["offset"], first["next_offset"]) == (5, 0, 5)
    ids = [c["customer_id"] for c in first["items"] + second["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 10
    everything = client.get("/products", params={"limit": 200}).json()
    assert everything["next_offset"] is None and len(everything["items"]) == 8
    assert client.get("/customers", params={"limit": 0}).json()["error"]["field"] == "limit"
    in_only = client.get("/customers", params={"country": "IN"}).json()["items"]
    assert all(c["address"]["country"] == "IN" for c in in_only)
