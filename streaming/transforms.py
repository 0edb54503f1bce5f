"""Pure ``DataFrame -> DataFrame`` transforms of the stream (no I/O, no session state).

Input is the Kafka source's shape: ``key``, ``value`` (binary), ``topic``,
``partition``, ``offset``, ``timestamp``. Each message is parsed once; the few that are
not in the producer's canonical form are parsed a second time, by every rule:

    screen -> keyed_rows -> rechecked        (one row per counting event or rejected
                            (those not in     message, with its key; others null)
                            canonical form)
           -> the driver (streaming.ledger,  (each order fact once, ever; sums per pane
                          streaming.counting) and all-time, ranks)

The query is stateless: no shuffle and no state store in a micro-batch.

``dead_letters``, ``valid_events`` and ``counting_events`` are the same rules as
separate views, for tests and batch use.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from streaming.schema import (
    Node,
    TopicSchema,
    canonical_pattern,
    datetime_paths,
    leaf_rules,
    spark_type,
    topic_schema,
)
from topproducts.events import EventType, Topic

CORRUPT = "_corrupt_record"
CONFIRMED = EventType.ORDER_CONFIRMED.value
CANCELLED = EventType.ORDER_CANCELLED.value
ALL_EVENT_TYPES = tuple(t.value for t in EventType)
DEAD = "dead"  # key_kind of a rejected message
RECHECK = "(not in canonical form: to check by every rule)"  # see screen()

Check = tuple[str, Callable[[Column], Column], Callable[[Column], Column]]


def parse(raw: DataFrame, topic: Topic = Topic.ORDERS) -> DataFrame:
    """Parse the JSON envelope into struct ``e`` and add ``reason`` (null when valid).

    A message in the producer's canonical form is valid by one regular expression
    and two casts (:func:`canonical`); only the others evaluate every rule.
    """
    c = Columns.of(topic)
    return raw.select(*c.parsed).select(*c.judged)


def screen(raw: DataFrame, topic: Topic = Topic.ORDERS) -> DataFrame:
    """:func:`parse` without the rules: ``reason`` is null for a message in the canonical
    form and :data:`RECHECK` for any other, which :func:`rechecked` then judges by every
    rule. The stream's query plans this small expression in every micro-batch; the
    rules (hundreds of expression nodes) are planned only in a batch that needs them.
    """
    c = Columns.of(topic)
    return raw.select(*c.parsed).select(*c.screened)


def rechecked(screened: DataFrame, topic: Topic = Topic.ORDERS) -> DataFrame:
    """The keyed rows, by every rule, of messages :func:`screen` set aside (``reason`` =
    :data:`RECHECK`), from the Kafka columns their keyed rows carry: a valid message in
    another form becomes its counting event, a broken one its dead letter."""
    return keyed_rows(parse(screened.select(*Columns.of(topic).kafka), topic))


@dataclass(frozen=True)
class Columns:
    """The parse's columns of a topic, built once per process. Building the rules'
    columns is about a thousand py4j calls (~1 s of the driver's time), and the driver
    rechecks with them in every batch that needs it. A Column is an unresolved
    expression, valid with any session of the process's JVM."""

    parsed: list[Column]  # the input's columns + e (the envelope, parsed)
    judged: list[Column]  # + reason, by every rule
    screened: list[Column]  # + reason: null when canonical, else RECHECK
    kafka: list[Column]  # the Kafka source's columns, back from a keyed row's

    @classmethod
    @functools.cache
    def of(cls, topic: Topic) -> Columns:
        ts = topic_schema(topic)
        schema = spark_type(ts.envelope).add(CORRUPT, "string")
        value = F.col("value").cast("string")
        e = F.col("e")
        fast = canonical(ts, e, value)
        return cls(
            parsed=[F.col("*"), F.from_json(value, schema, {"columnNameOfCorruptRecord":
                                                            CORRUPT}).alias("e")],
            judged=[F.col("*"), F.when(fast, F.lit(None)).otherwise(reason(ts, e, value))
                    .alias("reason")],
            screened=[F.col("*"), F.when(fast, F.lit(None)).otherwise(F.lit(RECHECK))
                      .alias("reason")],
            kafka=[*(F.col(c) for c in ("key", "value", "topic", "partition", "offset")),
                   F.timestamp_micros("kafka_timestamp_us").alias("timestamp")],
        )


def canonical(ts: TopicSchema, e: Column, value: Column) -> Column:
    """True for a message in the producer's canonical form with valid values."""
    checks = [value.rlike(canonical_pattern(ts))]
    # The pattern already demands each event type's required date-times; the casts only
    # reject impossible dates (2026-02-30) in those that are present.
    for path, _ in datetime_paths(ts.envelope):
        column = functools.reduce(lambda c, name: c[name], path, e)
        checks.append(column.isNull() | column.try_cast("timestamp").isNotNull())
    return functools.reduce(operator.and_, checks)


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
            for key, child_pred, child_why in _checks(child, f"{path}.{child.name}"):
                yield key, _in_field(n.name, child_pred), _in_field(n.name, child_why)
        else:  # array: the element rules, for any element
            for key, child_pred, _ in _checks(child, f"{path}[].{child.name}"):
                reason_text = key

                def any_pred(p: Column, f: Callable[[Column], Column] = child_pred,
                             name: str = n.name) -> Column:
                    return F.exists(p[name], lambda x: f(x))  # exists needs a 1-arg lambda

                def any_why(p: Column, t: str = reason_text) -> Column:
                    return F.lit(t)

                yield key, any_pred, any_why


def _in_field(name: str, f: Callable[[Column], Column]) -> Callable[[Column], Column]:
    """``f`` (which takes a struct) applied to the field ``name`` of the parent struct."""
    return lambda p: f(p[name])


def dead_letters(parsed: DataFrame) -> DataFrame:
    """Rejected messages, with what is needed to find and replay them."""
    return parsed.where(F.col("reason").isNotNull()).select(
        "topic", "partition", "offset", F.unix_micros("timestamp").alias("kafka_timestamp_us"),
        F.col("key").cast("string").alias("key"), "value", "reason")


def valid_events(parsed: DataFrame) -> DataFrame:
    """Valid events with typed columns (casts are safe: the values were validated)."""
    e, p = F.col("e"), F.col("e.payload")
    return parsed.where(F.col("reason").isNull()).select(
        F.lower(F.trim(e["event_id"])).alias("event_id"),
        e["event_type"].alias("event_type"),
        p["order_id"].try_cast("bigint").alias("order_id"),
        p["country"].alias("country"),
        p["confirmed_at"].try_cast("timestamp").alias("confirmed_at"),
        F.transform(p["items"], item_struct).alias("items"),
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




def item_struct(x: Column) -> Column:
    """A line item as the counting needs it (casts are safe: the values were validated)."""
    return F.struct(
        x["variant_id"].try_cast("bigint").alias("variant_id"),
        x["product_id"].try_cast("bigint").alias("product_id"),
        x["product_name"].alias("product_name"),
        x["material"].alias("material"),
        x["quantity"].try_cast("bigint").alias("quantity"),
        x["revenue_usd"].try_cast("decimal(18,2)").alias("revenue_usd"),
        x["seller"].alias("seller"),
    )


def keyed_rows(parsed: DataFrame) -> DataFrame:
    """One projection of every message: a counting event, a rejected message, or nulls.

    Counting events (confirmations, and cancellations of confirmed orders) carry
    ``event_time_us`` (the confirmation's time: the pane the lines belong to),
    ``own_time_us`` (when the fact happened: the confirmation, or the cancellation), and
    ``key_id`` = order id and ``key_kind`` = event type: the driver's ledger counts the
    same order's same fact once, whoever re-published it. A rejected message has
    ``key_kind`` = ``dead`` and its topic, partition and offset (its dead-letter row's
    key: a replayed batch rewrites the same row). Every other message (placements,
    cancellations that retract nothing) has a null key; the driver ignores it.

    No filter here: a filter on these columns would be pushed below the projection
    and parse the JSON a second time.
    """
    return parsed.select(*_keyed_columns())


@functools.cache
def _keyed_columns() -> list[Column]:
    e, p, bad = F.col("e"), F.col("e.payload"), F.col("reason").isNotNull()
    event_type = e["event_type"]
    confirmed = ~bad & (event_type == CONFIRMED)
    counted = confirmed | (~bad & (event_type == CANCELLED) & p["confirmed_at"].isNotNull())
    return [
        F.when(counted, p["order_id"].try_cast("bigint")).alias("key_id"),
        F.when(bad, F.lit(DEAD)).when(counted, event_type).alias("key_kind"),
        F.when(counted, F.when(confirmed, F.lit(1)).otherwise(F.lit(-1))).alias("sign"),
        F.when(counted, p["country"]).alias("country"),
        F.when(counted, F.unix_micros(p["confirmed_at"].try_cast("timestamp")))
         .alias("event_time_us"),
        # the fact's own time: the confirmation's, or when the cancellation happened
        F.when(confirmed, F.unix_micros(p["confirmed_at"].try_cast("timestamp")))
         .when(counted, F.unix_micros(e["occurred_at"].try_cast("timestamp")))
         .alias("own_time_us"),
        F.when(counted, F.transform(p["items"], item_struct)).alias("items"),
        F.when(bad, F.col("topic")).alias("topic"),
        F.when(bad, F.col("partition")).alias("partition"),
        F.when(bad, F.col("offset")).alias("offset"),
        F.when(bad, F.unix_micros("timestamp")).alias("kafka_timestamp_us"),
        F.when(bad, F.col("key").cast("string")).alias("key"),
        F.when(bad, F.col("value")).alias("value"),
        F.col("reason"),
    ]
