"""The Flink SQL peer: the project's leaderboards in Flink SQL, over the same Kafka topic.

Runs in Flink's own venv (``infra/flink/install.sh``), never the project's, so it imports
only PyFlink and the standard library; ``bench/peers/flink/runner.py`` starts it::

    <state>/flink/venv/bin/python bench/peers/flink/job.py --bootstrap HOST:PORT \\
        --topic T --out PREFIX --checkpoints DIR --classpath FILE [--parallelism 1]

What it computes (one ``StatementSet``, one Flink job on a local mini-cluster):

* reads ``--topic`` from the earliest to the latest offsets at start (bounded, so the job
  ends when the backlog is drained; ``--unbounded``: on, for the latency run), JSON with
  parse errors skipped;
* keeps ``order_confirmed`` and ``order_cancelled`` events with an ``event_id``, schema
  version 1 and an order id; dedupes them by (order_id, event_type), first one wins
  (``ROW_NUMBER`` over processing time, keyed state);
* a confirmation adds its lines, a cancellation of a confirmed order (``confirmed_at`` set)
  retracts them; lines with a quantity <= 0 are dropped;
* counts each line all-time and in the sliding windows of the project's rule: the windows
  (``--duration`` long, every ``--slide``) that contain the confirmation; a cancellation at
  time x retracts from those of them that end after x. Lines are summed per pane (a slide)
  first, then each changed pane sum moves its windows: the slicing Flink's own ``HOP``
  aggregation does, with the retraction rule on top;
* per country and ``GLOBAL``, at three granularities (product x material, product, variant
  with its seller), quantity and revenue in USD (``DECIMAL(20, 2)``: exact);
* writes the absolute totals to ``<out>.totals`` and the top ``--top-n`` by quantity and by
  revenue of every (granularity, scope, window) to ``<out>.boards``, both ``upsert-kafka``
  (a changelog by key, each key's last change written every ``--flush-ms``). A board's rows are
  its items without the rank number (Flink's "no ranking output": an item that enters or
  leaves is one write, not a shift of every rank below it); an item that leaves is deleted;
* checkpoints every ``--checkpoint-ms`` (exactly-once state: heap backend, files).

Once the job is submitted it prints ``FLINK-PEER-SUBMITTED`` and JSON (``{"submitted": ...}``,
``time.time()`` seconds). When a bounded job has ended it prints ``FLINK-PEER-RESULT`` and
``{"submitted": ..., "finished": ...}``, and waits for a line on stdin before exiting, so the
caller can read the CPU time and peak memory of this process and its JVM first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

RESULT = "FLINK-PEER-RESULT "  # the line the runner waits for (a bounded run has ended)
SUBMITTED = "FLINK-PEER-SUBMITTED "  # the job runs

GRANULARITIES = {
    # name: (item key, name columns)
    "product_material": ("CONCAT(CAST(product_id AS STRING), '|', material)",
                         "product_name, material, CAST('' AS STRING) AS seller"),
    "product": ("CAST(product_id AS STRING)",
                "product_name, CAST('' AS STRING) AS material, CAST('' AS STRING) AS seller"),
    "variant": ("CAST(variant_id AS STRING)", "product_name, material, seller"),
}
NAME_KEYS = {"product_material": "product_name, material",
             "product": "product_name",
             "variant": "product_name, material, seller"}


def statements(topic: str, out: str, bootstrap: str, top_n: int, duration_s: int,
               slide_s: int, flush_ms: int = 1000, bounded: bool = True
               ) -> tuple[list[str], dict[str, str], list[str]]:
    """(DDL, views made from queries, INSERTs) of the job.

    The totals of a granularity are a view made from a query (a ``Table``), so the planner
    computes them once for the totals' sink and both boards (a view written in SQL is planned
    once per INSERT: three aggregations each).
    """
    if duration_s % slide_s:
        raise ValueError("the window duration must be a multiple of the slide")
    kafka = f"'properties.bootstrap.servers' = '{bootstrap}'"
    # the sinks keep the last change of each key for ``flush_ms``, then write it (as the
    # project writes each changed total and board once per micro-batch)
    sink = (f"{kafka}, 'key.format' = 'json', 'value.format' = 'json', "
            "'value.json.encode.decimal-as-plain-number' = 'true', "
            f"'sink.buffer-flush.interval' = '{flush_ms} ms', "
            "'sink.buffer-flush.max-rows' = '100000'")
    pane = f"(f.confirmed_s - MOD(f.confirmed_s, {slide_s}))"  # the confirmation's pane
    # the ends of the windows that contain a pane (a row-dependent array: a constant one
    # would be planned as a join, with state)
    ends = ", ".join(f"p.pane + {k * slide_s}" for k in range(1, duration_s // slide_s + 1))
    ddl = [
        f"""CREATE TABLE events (
              event_id STRING, event_type STRING, schema_version INT, occurred_at STRING,
              payload ROW<order_id BIGINT, country STRING, confirmed_at STRING,
                items ARRAY<ROW<variant_id INT, product_id INT, product_name STRING,
                  material STRING, quantity INT, revenue_usd STRING, seller STRING>>>,
              proc AS PROCTIME()
            ) WITH ('connector' = 'kafka', 'topic' = '{topic}', {kafka},
              'properties.group.id' = 'flink-peer', 'scan.startup.mode' = 'earliest-offset',
              {"'scan.bounded.mode' = 'latest-offset'," if bounded else ''} 'format' = 'json',
              'json.ignore-parse-errors' = 'true', 'json.fail-on-missing-field' = 'false')""",
        """CREATE TEMPORARY VIEW facts AS
            SELECT order_id, country, sign, items, confirmed_s, at_s FROM (
              SELECT payload.order_id AS order_id, payload.country AS country,
                payload.items AS items,
                CASE WHEN event_type = 'order_confirmed' THEN 1 ELSE -1 END AS sign,
                UNIX_TIMESTAMP(SUBSTRING(payload.confirmed_at FROM 1 FOR 19),
                               'yyyy-MM-dd''T''HH:mm:ss') AS confirmed_s,
                UNIX_TIMESTAMP(SUBSTRING(occurred_at FROM 1 FOR 19),
                               'yyyy-MM-dd''T''HH:mm:ss') AS at_s,
                ROW_NUMBER() OVER (PARTITION BY payload.order_id, event_type
                                   ORDER BY proc ASC) AS rn
              FROM events
              WHERE event_id IS NOT NULL AND schema_version = 1
                AND payload.order_id IS NOT NULL AND payload.country IS NOT NULL
                AND payload.confirmed_at IS NOT NULL
                AND event_type IN ('order_confirmed', 'order_cancelled'))
            WHERE rn = 1""",
        f"""CREATE TABLE totals (
              granularity STRING, `scope` STRING, win STRING, item STRING,
              product_name STRING, material STRING, seller STRING,
              quantity BIGINT, revenue DECIMAL(20, 2),
              PRIMARY KEY (granularity, `scope`, win, item) NOT ENFORCED
            ) WITH ('connector' = 'upsert-kafka', 'topic' = '{out}.totals', {sink})""",
        f"""CREATE TABLE boards (
              granularity STRING, metric STRING, `scope` STRING, win STRING,
              item STRING, product_name STRING, material STRING, seller STRING,
              quantity BIGINT, revenue DECIMAL(20, 2),
              PRIMARY KEY (granularity, metric, `scope`, win, item) NOT ENFORCED
            ) WITH ('connector' = 'upsert-kafka', 'topic' = '{out}.boards', {sink})""",
    ]
    inserts = []
    n_windows = duration_s // slide_s
    # Pane first, then windows (the slicing Flink's own HOP aggregation does): every line is
    # summed once, per (country, pane of its confirmation, windows kept, variant). ``kept``
    # is how many of the pane's windows a cancellation does NOT retract from (those that
    # ended at or before it); 0 for a confirmation, which counts in all of them.
    kept = (f"CASE WHEN f.sign > 0 THEN 0 ELSE GREATEST(0, LEAST({n_windows}, "
            f"CAST(FLOOR((f.at_s - {pane}) / {slide_s}) AS INT))) END")
    views: dict[str, str] = {"panes": f"""
            SELECT f.country, {pane} AS pane, {kept} AS kept, i.variant_id, i.product_id,
              i.product_name, i.material, i.seller,
              SUM(CAST(f.sign * i.quantity AS BIGINT)) AS quantity,
              SUM(f.sign * CAST(i.revenue_usd AS DECIMAL(20, 2))) AS revenue
            FROM facts AS f
            CROSS JOIN UNNEST(f.items) AS i (variant_id, product_id, product_name, material,
                                             quantity, revenue_usd, seller)
            WHERE i.quantity > 0
            GROUP BY f.country, {pane}, {kept}, i.variant_id, i.product_id, i.product_name,
              i.material, i.seller"""}
    # then each pane's sum, once per scope (its country and GLOBAL) and per window it moves
    # (win_end -1: all-time, where a cancellation always retracts): only the pane's sums
    # that changed in a mini-batch go on, not every line
    views["counted"] = f"""
            SELECT s.`scope`, CASE WHEN w.win_end < 0 THEN 'all'
                ELSE CAST(w.win_end - {duration_s} AS STRING) END AS win,
              p.variant_id, p.product_id, p.product_name, p.material, p.seller,
              p.quantity, p.revenue
            FROM panes AS p
            CROSS JOIN UNNEST(ARRAY[p.country, 'GLOBAL']) AS s (`scope`)
            CROSS JOIN UNNEST(ARRAY[CAST(-1 AS BIGINT), {ends}])
              AS w (win_end)
            WHERE w.win_end < 0 OR w.win_end > p.pane + p.kept * {slide_s}"""
    for name, (item, names) in GRANULARITIES.items():
        views[f"totals_{name}"] = (f"""
            SELECT '{name}' AS granularity, `scope`, win, {item} AS item, {names},
              SUM(CAST(quantity AS BIGINT)) AS quantity, SUM(revenue) AS revenue
            FROM counted GROUP BY `scope`, win, {item}, {NAME_KEYS[name]}""")
        inserts.append(f"INSERT INTO totals SELECT * FROM totals_{name}")
        for metric in ("quantity", "revenue"):
            inserts.append(f"""INSERT INTO boards
                SELECT granularity, '{metric}', `scope`, win, item, product_name, material,
                  seller, quantity, revenue FROM (
                  SELECT *, ROW_NUMBER() OVER (PARTITION BY `scope`, win
                                               ORDER BY {metric} DESC) AS rnk
                  FROM totals_{name})
                WHERE rnk <= {top_n}""")
    return ddl, views, inserts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--out", required=True, help="prefix of the two output topics")
    ap.add_argument("--checkpoints", required=True, help="checkpoint folder")
    ap.add_argument("--classpath", required=True, help="file with the connector's jar paths")
    ap.add_argument("--parallelism", type=int, default=1)
    ap.add_argument("--top-n", type=int, default=10)
    ap.add_argument("--duration", type=int, default=3600, help="window length, seconds")
    ap.add_argument("--slide", type=int, default=300, help="window slide, seconds")
    # The defaults are for a backlog, where the stream's micro-batches take ~10 s each and it
    # commits once per batch: a checkpoint and a mini-batch every 10 s are the same cadence
    # (measured at 300k events: 5 s / 5 s took 1.5x the CPU, 10 s / 1M rows 1.2x)
    ap.add_argument("--checkpoint-ms", type=int, default=10_000)
    ap.add_argument("--mini-batch-ms", type=int, default=10_000)
    ap.add_argument("--mini-batch-rows", type=int, default=200_000)
    ap.add_argument("--flush-ms", type=int, default=1000,
                    help="how long the sinks keep a key's last change before writing it")
    ap.add_argument("--unbounded", action="store_true",
                    help="keep reading new events (the latency run) instead of ending at "
                         "the end offsets of the start")
    ap.add_argument("--explain", action="store_true", help="print the plan and exit")
    args = ap.parse_args()

    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    with open(args.classpath) as f:
        jars = ";".join("file://" + p for p in f.read().strip().split(":"))
    conf = Configuration()
    for key, value in {
        "pipeline.jars": jars,
        "parallelism.default": str(args.parallelism),
        "pipeline.object-reuse": "true",
        "table.local-time-zone": "UTC",
        "table.exec.mini-batch.enabled": "true",
        "table.exec.mini-batch.allow-latency": f"{args.mini_batch_ms} ms",
        "table.exec.mini-batch.size": str(args.mini_batch_rows),
        # each INSERT's rows are unique by the sink's key (group keys, rank number)
        "table.exec.sink.upsert-materialize": "NONE",
        "execution.checkpointing.interval": f"{args.checkpoint_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "state.backend.type": "hashmap",
        "execution.checkpointing.storage": "filesystem",
        "execution.checkpointing.dir": "file://" + args.checkpoints,
    }.items():
        conf.set_string(key, value)
    env = TableEnvironment.create(
        EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build())
    ddl, views, inserts = statements(args.topic, args.out, args.bootstrap, args.top_n,
                                     args.duration, args.slide, args.flush_ms,
                                     bounded=not args.unbounded)
    for statement in ddl:
        env.execute_sql(statement)
    for name, query in views.items():
        env.create_temporary_view(name, env.sql_query(query))
    job = env.create_statement_set()
    for statement in inserts:
        job.add_insert_sql(statement)
    if args.explain:
        print(job.explain())
        return
    result = job.execute()
    submitted = time.time()
    print(SUBMITTED + json.dumps({"submitted": submitted}), flush=True)
    result.wait()  # unbounded: until the process is stopped
    finished = time.time()
    print(RESULT + json.dumps({"submitted": submitted, "finished": finished}), flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    main()
