"""The API contract, checked by schemathesis: every operation, every check, and the
stateful phase (sequences of calls following the links between operations).

Runs against the app in-process (ASGI) on an isolated, seeded shop, with the API key,
so writes are exercised too. Positive and negative data. "Every check" is every check
schemathesis runs by default (none is switched off here): no 5xx, documented status
codes, content types, headers and response schemas, schema-valid input accepted and
schema-invalid input rejected, a documented `Allow` on 405, auth not ignored, created
resources readable, ... The one limit the schema cannot express (the daily range's
`to` not before `from` and at most 92 days) is respected by the generated positive
data, see :func:`map_query`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.openapi.checks import RejectedPositiveData

from services.app import create_app
from services.patterns import DAY_RE
from services.routes.daily import MAX_DAYS
from tests.support.sandbox import isolated, seeded_sandbox
from topproducts.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_EXAMPLES = 8  # per operation and phase
STATEFUL_EXAMPLES = 20  # scenarios of the stateful phase
STATEFUL_STEPS = 6  # calls per scenario at most
HYPOTHESIS = {"deadline": None, "suppress_health_check": list(HealthCheck)}

# Building the app connects to nothing; the shop behind it is seeded by `shop` below.
SETTINGS = isolated(get_settings())
APP = create_app(SETTINGS, publish_events=False)
AUTH = {"X-API-Key": SETTINGS.api_key}
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", APP, config=schemathesis.Config.from_dict({"generation": {"mode": "all"}})
)
SSE = "/leaderboards/{metric}/stream"  # server-sent events: ends only when `boards` is set


@schema.hook
def map_query(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    """The event stream: a valid or absent `boards` becomes 1, so the stream ends.
    `GET /leaderboards/{metric}/daily`: when `from` and `to` are both days, make them a
    range the API serves (`to` not before `from`, at most MAX_DAYS days): a constraint
    between two parameters, which OpenAPI cannot express (the operation documents it).
    Anything else is left alone, so negative cases stay negative."""
    if context.operation is not None and context.operation.path == SSE:
        query = dict(query or {})
        wanted = query.get("boards")
        if "boards" not in query or (type(wanted) is int and 1 <= wanted <= 10_000):
            query["boards"] = 1  # one board, then the stream ends (an invalid value: a 422)
        return query
    if (context.operation is None or context.operation.path != "/leaderboards/{metric}/daily"
            or not query):
        return query
    first, last = query.get("from"), query.get("to")
    if not (isinstance(first, str) and isinstance(last, str)
            and DAY_RE.fullmatch(first) and DAY_RE.fullmatch(last)):
        return query
    a, b = sorted((dt.date.fromisoformat(first), dt.date.fromisoformat(last)))
    b = min(b, a + dt.timedelta(days=MAX_DAYS - 1))
    return {**query, "from": a.isoformat(), "to": b.isoformat()}


@schema.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but the false positives of `positive_data_acceptance` on
    `POST /orders`, where the check takes any schema-valid body for one the API must
    accept. Two rules of an order are beyond what a schema can say, and the API answers
    both with a documented 422 (which test_api_orders.py expects):

    * a customer or variant that does not exist (`unknown_customer`, `unknown_variant`):
      whether an id exists is the shop's state;
    * the same variant on two lines: JSON Schema has no "unique by property" for the
      items of an array (`uniqueItems` compares whole items).

    Only those exact answers are dropped."""
    if (not isinstance(failure, RejectedPositiveData) or response.status_code != 422
            or case.operation.label != "POST /orders"):
        return True
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return True
    if error["code"] in ("unknown_customer", "unknown_variant"):
        return False
    return not (error["field"] == "lines"
                and re.search(r"variant \d+ appears on more than one line", error["message"]))


@pytest.fixture(scope="module", autouse=True)
def shop(running_stack) -> Iterator[None]:
    with seeded_sandbox(running_stack, customers=10, products=5,
                        name=SETTINGS.kafka_topic_prefix):
        yield
    APP.state.boards.close()  # the watcher a request started, before its session closes
    APP.state.cassandra.close()
    APP.state.publisher.stop()


def auth(case: Any) -> dict[str, str]:
    """The real API key in place of the one schemathesis generated, so that writes are
    exercised; none when the case leaves the header out on purpose (negative data: the API
    must answer 401, and adding the key would make a valid request of it)."""
    names = {name.lower() for name in (case.headers or {})}
    return AUTH if "x-api-key" in names else {}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, **HYPOTHESIS)
def test_every_operation_every_check(case):
    case.call_and_validate(headers=auth(case))  # no `checks=`: all of them


class Workflow(schema.as_state_machine()):  # type: ignore[misc]
    def get_call_kwargs(self, case) -> dict[str, Any]:
        return {"headers": auth(case)}


def test_links_cover_the_main_flows():
    """The links schemathesis infers from the schema (the stateful phase follows them)
    chain what a client does: create a customer, order for them, follow the order."""
    rules = {name for name in dir(Workflow) if re.match(r"^(GET|POST|PUT)_", name)}
    for producer, consumer in [
        ("POST_customers_", "GET_customers_customer_id_"),
        ("POST_customers_", "POST_orders"),
        ("POST_orders_", "GET_orders_order_id_"),
        ("POST_orders_", "POST_orders_order_id_cancel"),
        ("POST_orders_", "GET_orders_order_id_payment"),
        ("POST_orders_", "GET_orders_order_id_shipment"),
        ("GET_orders_order_id_payment_", "POST_payments_payment_id_pay"),
        ("PUT_variants_variant_id_stock_", "GET_variants_variant_id_"),
    ]:
        assert any(r.startswith(producer) and r.endswith("__" + consumer) for r in rules), (
            producer, consumer, sorted(rules))


def test_stateful():
    Workflow.run(settings=settings(max_examples=STATEFUL_EXAMPLES,
                                   stateful_step_count=STATEFUL_STEPS, **HYPOTHESIS))
