"""Pure ``DataFrame -> DataFrame`` transforms of the stream (no I/O, no session state).

Input is the Kafka source's shape: ``key``, ``value`` (binary), ``topic``,
``partition``, ``offset``, ``timestamp``. The pipeline:

    parse -> dead_letters                      (rejected rows, with a specific reason)
          -> valid_events -> counting_events   (confirmations, and retractions of them)
             -> dedupe_all_time | dedupe_windowed
             -> item_rows                      (one row per item per scope, signed)
             -> all_time_totals | window_totals
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from streaming.schema import Node, TopicSchema, leaf_rules, spark_type, topic_schema
from topproducts.countries import GLOBAL_SCOPE
from topproducts.events import EventType, Topic

CORRUPT = "_corrupt_record"
CONFIRMED = EventType.ORDER_CONFIRMED.value
CANCELLED = EventType.ORDER_CANCELLED.value
ALL_EVENT_TYPES = tuple(t.value for t in EventType)
TOTAL_COLUMNS = ("scope", "window_start_us", "window_end_us", "variant_id", "product_id",
                 "product_name", "material", "quantity", "revenue_usd")

Check = tuple[str, Callable[[Column], Column], Callable[[Column], Column]]


def parse(raw: DataFrame, topic: Topic = Topic.ORDERS) -> DataFrame:
    """Parse the JSON envelope into struct ``e`` and add ``reason`` (null when valid)."""
    ts = topic_schema(topic)
    schema = spark_type(ts.envelope).add(CORRUPT, "string")
    value = F.col("value").cast("string")
    parsed = raw.withColumn("e", F.from_json(value, schema,
                                             {"columnNameOfCorruptRecord": CORRUPT}))
    return parsed.withColumn("reason", reason(ts, F.col("e"), value))


def reason(ts: TopicSchema, e: Column, value: Column) -> Column:
    """The first rule a message breaks, as text; null when it breaks none."""
    corrupt = e[CORRUPT]
    checks: list[tuple[Column, Column]] = [
        (value.isNull() | (F.trim(value) == ""), F.lit("empty message value")),
        (~F.ltrim(value).startswith("{"), F.lit("not a JSON object")),
        (corrupt.isNotNull() & functools.reduce(
            operator.and_, [e[n.name].isNull() for n in ts.envelope]),
         F.lit("malformed JSON")),
    ]
    event_type = e["event_type"]
    for n in ts.envelope:
        if n.name == "event_type":
            checks += [
                (event_type.isNull(), F.lit("event_type: missing")),
                (~event_type.isin(*ALL_EVENT_TYPES),
                 F.concat(F.lit("event_type: unknown event type "), _show(event_type))),
                (~event_type.isin(*ts.event_types),
                 F.concat(F.lit("event_type: "), _show(event_type),
                          F.lit(f" does not belong on topic {ts.topic.value}"))),
            ]
        elif n.name != "payload":
            checks += [(pred(e), why(e)) for _, pred, why in _checks(n, n.name)]
    # The payload: rules of each event type's model, merged where they are the same rule.
    payload_rules: dict[str, tuple[list[str], Callable, Callable]] = {}
    payload_node = next(n for n in ts.envelope if n.name == "payload")
    for event, fields in ts.payloads.items():
        node = Node("payload", "struct", payload_node.required, children=fields)
        for key, pred, why in _checks(node, "payload"):
            payload_rules.setdefault(key, ([], pred, why))[0].append(event)
    for events, pred, why in payload_rules.values():
        checks.append((event_type.isin(*events) & pred(e), why(e)))
    checks.append((corrupt.isNotNull(),
                   F.lit("malformed JSON: a nested field has the wrong JSON type")))
    return F.coalesce(*(F.when(cond, why) for cond, why in checks))


def _show(c: Column) -> Column:
    return F.concat(F.lit("'"), F.coalesce(F.substring(c, 1, 60), F.lit("null")), F.lit("'"))


def _checks(n: Node, path: str) -> Iterator[Check]:
    """(key, predicate, reason) for field ``n``; both functions take the parent struct."""
    for rule in leaf_rules(n, path):
        def pred(p: Column, r=rule, name=n.name) -> Column:
            return r.violated(p[name])

        def why(p: Column, r=rule, name=n.name) -> Column:
            return F.concat(F.lit(r.reason), _show(p[name])) if r.with_value else F.lit(r.reason)

        yield rule.reason, pred, why
    for child in n.children:
        if n.kind == "struct":
            for key, pred, why in _checks(child, f"{path}.{child.name}"):
                yield (key, lambda p, f=pred, name=n.name: f(p[name]),
                       lambda p, f=why, name=n.name: f(p[name]))
        else:  # array: the element rules, for any element
            for key, pred, _ in _checks(child, f"{path}[].{child.name}"):
                reason_text = key

                def any_pred(p: Column, f=pred, name=n.name) -> Column:
                    return F.exists(p[name], lambda x: f(x))  # exists needs a 1-arg lambda

                yield key, any_pred, lambda p, t=reason_text: F.lit(t)


def dead_letters(parsed: DataFrame) -> DataFrame:
    """Rejected messages, with what is needed to find and replay them."""
    return parsed.where(F.col("reason").isNotNull()).select(
        "topic", "partition", "offset", F.unix_micros("timestamp").alias("kafka_timestamp_us"),
        F.col("key").cast("string").alias("key"), "value", "reason")


def valid_events(parsed: DataFrame) -> DataFrame:
    """Valid events with typed columns (casts are safe: the values were validated)."""
    e, p = F.col("e"), F.col("e.payload")
    item = lambda x: F.struct(  # noqa: E731
        x["variant_id"].try_cast("bigint").alias("variant_id"),
        x["product_id"].try_cast("bigint").alias("product_id"),
        x["product_name"].alias("product_name"),
        x["material"].alias("material"),
        x["quantity"].try_cast("bigint").alias("quantity"),
        x["revenue_usd"].try_cast("decimal(18,2)").alias("revenue_usd"),
    )
    return parsed.where(F.col("reason").isNull()).select(
        F.lower(F.trim(e["event_id"])).alias("event_id"),
        e["event_type"].alias("event_type"),
        p["order_id"].try_cast("bigint").alias("order_id"),
        p["country"].alias("country"),
        p["confirmed_at"].try_cast("timestamp").alias("confirmed_at"),
        F.transform(p["items"], item).alias("items"),
        F.col("timestamp").alias("kafka_timestamp"),
    )


def counting_events(events: DataFrame) -> DataFrame:
    """Events that move the leaderboards: confirmations (+1) and their cancellations (-1).

    ``event_time`` is the confirmation time for both. A cancellation without
    ``confirmed_at`` retracts nothing and is dropped here.
    """
    confirmed = F.col("event_type") == CONFIRMED
    retracted = (F.col("event_type") == CANCELLED) & F.col("confirmed_at").isNotNull()
    return events.where(confirmed | retracted).select(
        "order_id", "event_type", "country", "items",
        F.col("confirmed_at").alias("event_time"),
        F.when(confirmed, F.lit(1)).otherwise(F.lit(-1)).alias("sign"),
    )


DEDUPE_KEY = ["order_id", "event_type"]


def dedupe_all_time(counting: DataFrame) -> DataFrame:
    """Count each order's confirmation and cancellation at most once, forever.

    Keyed by (order_id, event_type) rather than event_id: a re-published event
    and a re-emitted one with a new id are both caught. State grows with orders
    (one small key each); the RocksDB state store keeps it off the heap.
    """
    return counting.dropDuplicates(DEDUPE_KEY)


def dedupe_windowed(counting: DataFrame, watermark: str) -> DataFrame:
    """Dedupe within the event-time watermark, which also bounds lateness.

    Rows with ``event_time`` older than the watermark are dropped here, whole, and
    counted by Spark as dropped by watermark: an event is on time (in all its
    windows) or late (in none). Late events still count all-time.
    """
    marked = counting.withWatermark("event_time", watermark)
    if not counting.isStreaming:  # batch (tests, backfills): plain dedupe is the same
        return marked.dropDuplicates(DEDUPE_KEY)
    return marked.dropDuplicatesWithinWatermark(DEDUPE_KEY)


def item_rows(counting: DataFrame) -> DataFrame:
    """One row per line item and scope (its country, and GLOBAL), with signed metrics."""
    negative = F.col("sign") < 0
    return (
        counting
        .select("event_time", "sign", "country", F.explode("items").alias("item"))
        .select(
            "event_time",
            F.explode(F.array(F.col("country"), F.lit(GLOBAL_SCOPE))).alias("scope"),
            F.col("item.variant_id").alias("variant_id"),
            F.col("item.product_id").alias("product_id"),
            F.col("item.product_name").alias("product_name"),
            F.col("item.material").alias("material"),
            (F.col("item.quantity") * F.col("sign")).alias("quantity"),
            F.when(negative, -F.col("item.revenue_usd"))
             .otherwise(F.col("item.revenue_usd")).alias("revenue_usd"),
        )
    )


def _metrics() -> list[Column]:
    return [
        F.max("product_id").alias("product_id"),
        F.max("product_name").alias("product_name"),
        F.max("material").alias("material"),
        F.sum("quantity").alias("quantity"),
        F.sum("revenue_usd").alias("revenue_usd"),
    ]


def all_time_totals(items: DataFrame) -> DataFrame:
    """Exact totals per (scope, variant) since the beginning (no watermark)."""
    none = F.lit(None).cast("bigint")
    return (items.groupBy("scope", "variant_id").agg(*_metrics())
            .select("scope", none.alias("window_start_us"), none.alias("window_end_us"),
                    *TOTAL_COLUMNS[3:]))


def window_totals(items: DataFrame, duration: str, slide: str) -> DataFrame:
    """Exact totals per (scope, sliding window of event time, variant)."""
    return (items.groupBy(F.window("event_time", duration, slide).alias("window"),
                          "scope", "variant_id").agg(*_metrics())
            .select("scope",
                    F.unix_micros(F.col("window.start")).alias("window_start_us"),
                    F.unix_micros(F.col("window.end")).alias("window_end_us"),
                    *TOTAL_COLUMNS[3:]))
