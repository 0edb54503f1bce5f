"""Schema-driven fuzzing (schemathesis) over the whole OpenAPI: no input gives a 5xx.

Runs against the app in-process (ASGI) on an isolated, seeded shop, with the API
key, so writes are exercised too. Positive and negative data, a few examples per
operation, so the run stays within a minute or two.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from services.app import create_app
from tests.support.sandbox import isolated, seeded_sandbox
from topproducts.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_EXAMPLES = 12

# Building the app connects to nothing; the shop behind it is seeded by `shop` below.
SETTINGS = isolated(get_settings())
APP = create_app(SETTINGS, publish_events=False)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", APP, config=schemathesis.Config.from_dict({"generation": {"mode": "all"}})
).exclude(path="/leaderboards/{metric}/stream")  # never ends (server-sent events); its 422s
# are in test_api_leaderboards.py


@pytest.fixture(scope="module", autouse=True)
def shop(running_stack) -> Iterator[None]:
    with seeded_sandbox(running_stack, customers=10, products=5,
                        name=SETTINGS.kafka_topic_prefix):
        yield
    APP.state.cassandra.close()
    APP.state.publisher.stop()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(headers={"X-API-Key": SETTINGS.api_key}, checks=[not_a_server_error])
