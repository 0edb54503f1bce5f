"""The shop domain: the seeded MySQL catalogue and the stream of orders (MySQL + Kafka).

Lineage: ``fx_rates`` -> ``customers``; ``catalogue``; all three -> ``order_events``
(orders in MySQL, their events in Kafka). Downstream domains (the stream, the
leaderboards) depend on :data:`ORDER_EVENTS`.

Each asset runs the same functions as the CLI (``topproducts seed`` /
``topproducts produce``) and reports what it wrote as metadata.

(No ``from __future__ import annotations`` here: Dagster reads the config and
resource annotations of asset functions at runtime.)
"""

import dagster as dg
from pydantic import Field

from topproducts.settings import Settings
from topproducts.shop import outbox, schema, seed, simulator
from topproducts_assets import resources
from topproducts_assets.resources import KafkaResource, MySQLResource, settings_of

GROUP = "shop"
OWNERS = ["team:data-engineering"]
ORDER_EVENTS = dg.AssetKey("order_events")


class CatalogueConfig(dg.Config):
    products: int = Field(default=seed.DEFAULT_PRODUCTS, ge=0, le=seed.MAX_SCALE,
                          description="products 1..N (with their variants) exist afterwards")
    seed: int = Field(default=seed.DEFAULT_SEED, description="same seed and scale, same rows")


class CustomersConfig(dg.Config):
    new_customers: int = Field(default=100, ge=0, le=seed.MAX_SCALE,
                               description="customers added per run (the shop grows)")
    minimum: int = Field(default=seed.DEFAULT_CUSTOMERS, ge=0, le=seed.MAX_SCALE,
                         description="but at least this many customers in total")
    seed: int = Field(default=seed.DEFAULT_SEED, description="customer k depends on (seed, k)")


class OrdersConfig(dg.Config):
    orders: int = Field(default=500, ge=1, le=simulator.MAX_ORDERS,
                        description="orders placed per run")
    batch_size: int = Field(default=500, ge=1, le=10_000,
                            description="orders per MySQL transaction")
    rate: float | None = Field(default=None, gt=0, description="max orders/s; None: no cap")
    country: str | None = Field(default=None, description="only customers of this country")
    seed: int | None = Field(default=None, description="seed of the shoppers' choices")


def _seed_metadata(report: seed.SeedReport, settings: Settings, tables: tuple[str, ...]
                   ) -> dict[str, int | float | str]:
    totals = seed.count_rows(settings, tables)
    rate = report.total_rows / report.seconds if report.seconds else 0.0
    return {
        "rows_written": report.total_rows,
        **{f"rows_written/{name}": n for name, n in sorted(report.rows.items())},
        **{f"total/{name}": n for name, n in totals.items()},
        "duration_s": round(report.seconds, 3),
        "rows_per_s": round(rate, 1),
        "database_prefix": settings.mysql_database_prefix,
    }


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"mysql"},
    description="The five shop countries with currency and locale, and the fixed FX rates to "
                "USD (user_management.countries, transaction_management.fx_rates).",
)
def fx_rates(mysql: MySQLResource) -> dg.MaterializeResult:
    settings = mysql.settings()
    schema.ensure_schema(settings)
    report = seed.seed_fx_rates(settings)
    return dg.MaterializeResult(
        metadata=_seed_metadata(report, settings, ("fx_rates", "countries")))


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"mysql"},
    description="The catalogue: categories, materials, sellers, products and their sellable "
                "variants (product x material x seller) with USD price, tax, discount, stock "
                "(inventory_management). Deterministic for a seed and scale; idempotent.",
)
def catalogue(config: CatalogueConfig, mysql: MySQLResource) -> dg.MaterializeResult:
    settings = mysql.settings()
    schema.ensure_schema(settings)
    report = seed.seed_catalogue(settings, config.products, config.seed)
    return dg.MaterializeResult(
        metadata=_seed_metadata(report, settings, ("products", "variants", "sellers")))


@dg.asset(
    deps=[fx_rates], group_name=GROUP, owners=OWNERS, kinds={"mysql", "kafka"},
    description="Customers with full local addresses (user_management.customers); each new "
                "customer is announced by a customer_created event on <prefix>.customers.",
)
def customers(
    context: dg.AssetExecutionContext,
    config: CustomersConfig,
    mysql: MySQLResource,
    kafka: KafkaResource,
) -> dg.MaterializeResult:
    settings = settings_of(mysql, kafka)
    schema.ensure_schema(settings)
    existing = seed.count_rows(settings, ("customers",))["customers"]
    target = max(config.minimum, existing + config.new_customers)
    report = seed.seed_customers(settings, target, config.seed)
    published = outbox.publish_pending(settings)
    context.log.info(f"customers: {existing} -> {target}; {published.events} events published")
    metadata = _seed_metadata(report, settings, ("customers",))
    metadata.update(events=published.events, bytes=published.bytes)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    deps=[customers, catalogue, fx_rates], group_name=GROUP, owners=OWNERS,
    kinds={"mysql", "kafka"},
    description="Simulated shoppers place orders: rows in order/transaction/shipping_management "
                "and their events (order_placed, order_confirmed, order_cancelled, "
                "payment_recorded, shipment_updated) in Kafka, through the transactional "
                "outbox: an order is in MySQL iff its events were delivered.",
)
def order_events(
    context: dg.AssetExecutionContext,
    config: OrdersConfig,
    mysql: MySQLResource,
    kafka: KafkaResource,
) -> dg.MaterializeResult:
    settings = settings_of(mysql, kafka)
    step = max(1, config.orders // 10)

    def progress(_: str, done: int, total: int) -> None:
        if done == total or done % step < config.batch_size:
            context.log.info(f"orders: {done}/{total}")

    report = simulator.produce(settings, config.orders, seed=config.seed, rate=config.rate,
                               country=config.country, batch_size=config.batch_size,
                               progress=progress)
    return dg.MaterializeResult(metadata={
        "orders": report.orders,
        "confirmed": report.confirmed,
        "cancelled_at_payment": report.cancelled_at_payment,
        "cancelled_later": report.cancelled_later,
        "shipment_steps": report.shipment_steps,
        "rows_written": report.rows,
        "events": report.published.events,
        **{f"events/{topic}": n for topic, n in sorted((report.published.by_topic or {}).items())},
        "bytes": report.published.bytes,
        "duration_s": round(report.seconds, 3),
        "orders_per_s": round(report.orders_per_second, 1),
        "events_per_s": round(report.events_per_second, 1),
    })


seed_shop = dg.define_asset_job(
    "seed_shop", selection=[fx_rates, catalogue, customers],
    description="Create the schema and seed countries, FX rates, the catalogue and customers.")
seed_customers = dg.define_asset_job(
    "seed_customers", selection=[customers],
    description="Add new customers (config: new_customers).")
produce_orders = dg.define_asset_job(
    "produce_orders", selection=[order_events],
    description="Place a batch of orders and publish their events (config: orders, batch_size).")

seed_customers_schedule = dg.ScheduleDefinition(
    name="seed_customers_schedule", job=seed_customers, cron_schedule="*/15 * * * *",
    execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED,
    description="New customers every 15 minutes, as the original Airflow cron did.")
produce_orders_schedule = dg.ScheduleDefinition(
    name="produce_orders_schedule", job=produce_orders, cron_schedule="* * * * *",
    execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED,
    description="A batch of orders every minute, as the original Airflow cron did.")

ASSETS = [fx_rates, catalogue, customers, order_events]

defs = dg.Definitions(
    assets=ASSETS, jobs=[seed_shop, seed_customers, produce_orders],
    schedules=[seed_customers_schedule, produce_orders_schedule],
    resources=resources.RESOURCES,
)
