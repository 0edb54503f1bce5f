"""The shop's Dagster definitions: they load, materialize against the real stack, schedule."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from topproducts.settings import Settings
from topproducts.shop import seed
from topproducts_assets import shop
from topproducts_assets.definitions import defs
from topproducts_assets.resources import KafkaResource, MySQLResource


def test_definitions_load_and_validate() -> None:
    dg.Definitions.validate_loadable(defs)
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"seed_customers", "produce_orders"} <= jobs
    graph = defs.resolve_asset_graph()
    order_events = graph.get(shop.ORDER_EVENTS)
    assert {k.to_user_string() for k in order_events.parent_keys} == {
        "customers", "catalogue", "fx_rates"}
    for key in (k for a in shop.ASSETS for k in a.keys):
        node = graph.get(key)
        assert node.group_name == "shop" and node.owners and node.description
        assert node.kinds & {"mysql", "kafka"}
    assert graph.get(shop.ORDER_EVENTS).kinds == {"mysql", "kafka"}


@pytest.mark.parametrize(
    ("name", "cron", "job"),
    [("seed_customers_schedule", "*/15 * * * *", "seed_customers"),
     ("produce_orders_schedule", "* * * * *", "produce_orders")],
)
def test_schedules_evaluate(name: str, cron: str, job: str) -> None:
    schedule = defs.resolve_schedule_def(name)
    assert schedule.cron_schedule == cron
    assert schedule.job_name == job
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 25, 8, 15, tzinfo=dt.UTC))
    result = schedule.evaluate_tick(context)
    assert len(result.run_requests) == 1
    # the run config it produces (the config classes' defaults) is valid for its job
    job_def = defs.resolve_job_def(job)
    assert dg.validate_run_config(job_def, result.run_requests[0].run_config)


def test_run_config_sets_batch_sizes() -> None:
    config = {"ops": {"order_events": {"config": {"orders": 10, "batch_size": 5}}}}
    assert dg.validate_run_config(defs.resolve_job_def("produce_orders"), config)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(defs.resolve_job_def("produce_orders"),
                               {"ops": {"order_events": {"config": {"order": 10}}}})
    with pytest.raises(ValueError, match="greater than or equal"):
        shop.OrdersConfig(orders=-1)


@pytest.mark.integration
def test_materialize_shop_assets_with_real_resources(sandbox: Settings) -> None:
    settings = sandbox
    resources = {
        "mysql": MySQLResource(database_prefix=settings.mysql_database_prefix),
        "kafka": KafkaResource(topic_prefix=settings.kafka_topic_prefix),
    }
    run_config = dg.RunConfig(ops={
        "catalogue": shop.CatalogueConfig(products=40, seed=3),
        "customers": shop.CustomersConfig(new_customers=0, minimum=60, seed=3),
        "order_events": shop.OrdersConfig(orders=120, batch_size=50, seed=3),
    })
    result = dg.materialize(shop.ASSETS, resources=resources, run_config=run_config)
    assert result.success
    meta = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert meta["catalogue"]["rows_written/products"].value == 40
    assert meta["customers"]["total/customers"].value == 60
    assert meta["customers"]["events"].value == 60
    assert meta["fx_rates"]["total/fx_rates"].value == 5
    orders = meta["order_events"]
    assert orders["orders"].value == 120
    assert orders["events"].value >= 3 * 120  # placed, payment, confirmed or cancelled
    for key in ("bytes", "duration_s", "orders_per_s", "events_per_s", "rows_written"):
        assert orders[key].value > 0

    # seed_customers again: grows by new_customers, nothing else changes
    again = dg.materialize(
        [shop.customers], resources=resources,
        run_config=dg.RunConfig(ops={"customers": shop.CustomersConfig(
            new_customers=15, minimum=0, seed=3)}))
    assert again.success
    assert seed.count_rows(settings, ("customers",))["customers"] == 75
