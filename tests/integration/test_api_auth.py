"""Writes need ``X-API-Key`` == settings.api_key; reads (and leaderboards) are open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from tests.support.sandbox import seeded_sandbox
from topproducts.settings import Settings

pytestmark = pytest.mark.integration

KEY = "test-key-0f3a"
ADDRESS = {"street": "1 High St", "city": "Leeds", "state": "West Yorkshire",
           "postal_code": "LS1 1AA", "country": "GB"}
WRITES = [
    ("post", "/orders", {"customer_id": 1, "lines": [{"variant_id": 10, "quantity": 1}]}),
    ("post", "/orders/1/cancel", None),
    ("post", "/payments/1/pay", None),
    ("put", "/variants/10/stock", {"stock": 100}),
    ("post", "/customers", {"first_name": "A", "last_name": "B", "email": "a@b.co",
                            "phone": "1", "address": ADDRESS}),
    ("put", "/customers/1/address", ADDRESS),
]


@pytest.fixture(scope="module")
def client(running_stack: Settings) -> Iterator[TestClient]:
    with (seeded_sandbox(running_stack.replace(api_key=KEY), customers=3, products=2) as s,
          TestClient(create_app(s, publish_events=False)) as c):
        yield c


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize("key", [None, "", "wrong", KEY + " ", KEY.upper()])
def test_writes_without_the_right_key_are_401(client: TestClient, method: str, path: str,
                                              body: dict | None, key: str | None):
    headers = {} if key is None else {"X-API-Key": key}
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "ApiKey"


def test_writes_with_the_key_are_served(client: TestClient):
    headers = {"X-API-Key": KEY}
    assert client.put("/variants/10/stock", json={"stock": 100},
                      headers=headers).status_code == 200
    placed = client.post("/orders", json=WRITES[0][2], headers=headers)
    assert placed.status_code == 201, placed.text
    assert client.put("/customers/1/address", json=ADDRESS, headers=headers).status_code == 200


def test_an_unauthorised_write_changes_nothing(client: TestClient):
    before = client.get("/variants/11").json()["stock"]
    client.put("/variants/11/stock", json={"stock": before + 7}, headers={"X-API-Key": "nope"})
    assert client.get("/variants/11").json()["stock"] == before


@pytest.mark.parametrize("path", ["/customers", "/products", "/orders", "/categories",
                                  "/leaderboards/quantity", "/leaderboards/options",
                                  "/health", "/", "/openapi.json"])
def test_reads_are_open(client: TestClient, path: str):
    assert client.get(path).status_code == 200
