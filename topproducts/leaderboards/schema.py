"""The Cassandra schema of the leaderboards, created idempotently by the project.

Each table answers one query in one partition read:

- ``boards``: top N for (metric, granularity, scope, window): one row whose ``ranked``
  entries are (rank, product_id, product_name, material, variant_id, seller, value,
  quantity, revenue_usd) in rank order, one frozen cell. A window's boards share its
  partition, so the stream replaces them in one or two single-partition batches per write
  (not one request per board), and a reader reads a board as one row. The cell is
  frozen: a board is replaced whole, with no tombstone for the list it replaces.
  (Measured on one node: Cassandra spent ~660 µs of CPU per board written as its own
  partition with a non-frozen list, as the older ``leaderboard`` table did, and ~80-150 µs
  per board in this form; the driver ~340 vs ~140 µs.)
- ``item_totals``: exact all-time totals of every variant per scope: the ledger. The
  coarser granularities (product x material, product) are sums of it, computed on
  read, so each sale is written once whatever the number of granularities.
- ``pane_totals``: exact totals of every variant per (scope, pane); a pane is one slide
  of event time, and a sliding window's totals are the sum of its panes.
- ``pane_tail_totals``: the same per (scope, pane, ``from_end``) for lines that count
  only in the pane's windows ending at ``from_end`` or later: cancellations that came
  after the earlier windows ended (the windowing rule,
  :mod:`topproducts.leaderboards.windowing`), and facts that came when those windows were
  final. A window ending at ``e`` adds its panes' tails with ``from_end <= e``.
- ``late_facts``: facts that reached the stream after windows they belong to were final,
  with the windows they missed, per UTC day of the confirmation (reconcile and the checks
  explain differences by them).

Board entries key an item by (product_id, material, variant_id) at every granularity,
with ``material = ''`` for a product and ``variant_id = 0`` unless it is a variant (see
:mod:`topproducts.leaderboards.ranking`).
- ``panes``: the panes that have data, newest first, per scope.
- ``leaderboard_windows``: the windows that have data, newest first, per scope.
- ``stream_state``: the stream's watermark and late count, per query.
- ``counted_orders``: the stream's ledger of counted order facts, one bit per
  (event type, order id) in packed chunks of 65,536 ids (``streaming.ledger``), so a
  re-published confirmation or cancellation counts once.

Totals rows carry the batch that wrote them and the value they replaced
(``prev_*``, null for a new row): at start-up the stream takes the replaced value
for a batch Spark did not commit, so a replayed batch counts once.
- ``stream_progress``: the latest batch of each streaming query (the Dagster
  sensor's input); ``stream_progress_history`` keeps a week of batches.
- ``dead_letters``: rejected messages with their reason, by topic and day.
- ``daily_leaderboard``: top N of one UTC day for (metric, granularity, scope, day), one
  row like ``boards`` (same entries), with what the day counted (``counted_until``,
  ``cutoff``, ``final``); ``daily_totals``: the day's exact variant totals per scope, one
  row (a list). Both are written whole by the ``daily_leaderboards`` Dagster asset (see
  ``docs/daily.md``): re-running a day replaces its rows with the same values.

``window_id`` is ``all`` for the all-time leaderboards, else the window's UTC
start (``2026-11-25T08:00:00Z``).
"""

from __future__ import annotations

from cassandra.cluster import Session

from topproducts.settings import Settings

TABLES: dict[str, str] = {
    "item_totals": """
        CREATE TABLE IF NOT EXISTS {ks}.item_totals (
            scope text, variant_id bigint,
            product_id bigint, product_name text, material text, seller text,
            quantity bigint, revenue_usd decimal, updated_at timestamp,
            batch_id bigint, prev_quantity bigint, prev_revenue_usd decimal,
            PRIMARY KEY ((scope), variant_id))""",
    "pane_totals": """
        CREATE TABLE IF NOT EXISTS {ks}.pane_totals (
            scope text, pane_start timestamp, variant_id bigint,
            product_id bigint, product_name text, material text, seller text,
            quantity bigint, revenue_usd decimal, updated_at timestamp,
            batch_id bigint, prev_quantity bigint, prev_revenue_usd decimal,
            PRIMARY KEY ((scope, pane_start), variant_id))""",
    "pane_tail_totals": """
        CREATE TABLE IF NOT EXISTS {ks}.pane_tail_totals (
            scope text, pane_start timestamp, from_end timestamp, variant_id bigint,
            product_id bigint, product_name text, material text, seller text,
            quantity bigint, revenue_usd decimal, updated_at timestamp,
            batch_id bigint, prev_quantity bigint, prev_revenue_usd decimal,
            PRIMARY KEY ((scope, pane_start), from_end, variant_id))""",
    "late_facts": """
        CREATE TABLE IF NOT EXISTS {ks}.late_facts (
            day date, order_id bigint, event_type text, country text,
            confirmed_at timestamp, occurred_at timestamp, watermark timestamp,
            missed_from timestamp, missed_to timestamp, counted_from timestamp,
            batch_id bigint, seen_at timestamp,
            PRIMARY KEY ((day), order_id, event_type))""",
    "panes": """
        CREATE TABLE IF NOT EXISTS {ks}.panes (
            scope text, pane_start timestamp, updated_at timestamp,
            PRIMARY KEY ((scope), pane_start))
        WITH CLUSTERING ORDER BY (pane_start DESC)""",
    "stream_state": """
        CREATE TABLE IF NOT EXISTS {ks}.stream_state (
            query text PRIMARY KEY, batch_id bigint, max_event_us bigint, late_total bigint,
            prev_max_event_us bigint, prev_late_total bigint, updated_at timestamp)""",
    "counted_orders": """
        CREATE TABLE IF NOT EXISTS {ks}.counted_orders (
            event_type text, chunk bigint, bits blob, batch_id bigint, prev_bits blob,
            updated_at timestamp,
            PRIMARY KEY ((event_type), chunk))""",
    "boards": """
        CREATE TABLE IF NOT EXISTS {ks}.boards (
            window_id text, scope text, metric text, granularity text,
            ranked frozen<list<frozen<tuple<int, bigint, text, text, bigint, text, decimal,
                                             bigint, decimal>>>>,
            window_start timestamp, window_end timestamp, updated_at timestamp,
            PRIMARY KEY ((window_id), scope, metric, granularity))""",
    "leaderboard_windows": """
        CREATE TABLE IF NOT EXISTS {ks}.leaderboard_windows (
            scope text, window_start timestamp, window_end timestamp, updated_at timestamp,
            PRIMARY KEY ((scope), window_start))
        WITH CLUSTERING ORDER BY (window_start DESC)""",
    "stream_progress": """
        CREATE TABLE IF NOT EXISTS {ks}.stream_progress (
            query text PRIMARY KEY, run_id text, batch_id bigint, end_offsets text,
            input_rows bigint, input_rows_per_second double, processed_rows_per_second double,
            batch_duration_ms bigint, watermark timestamp, late_rows_dropped bigint,
            late_rows_dropped_total bigint, state_rows bigint,
            batch_at timestamp, updated_at timestamp, pending_boards int)""",
    "stream_progress_history": """
        CREATE TABLE IF NOT EXISTS {ks}.stream_progress_history (
            query text, day date, batch_id bigint, run_id text, end_offsets text,
            input_rows bigint, input_rows_per_second double, processed_rows_per_second double,
            batch_duration_ms bigint, watermark timestamp, late_rows_dropped bigint,
            state_rows bigint, batch_at timestamp,
            PRIMARY KEY ((query, day), batch_id))
        WITH CLUSTERING ORDER BY (batch_id DESC) AND default_time_to_live = 604800""",
    "dead_letters": """
        CREATE TABLE IF NOT EXISTS {ks}.dead_letters (
            topic text, day date, kafka_partition int, kafka_offset bigint,
            kafka_timestamp timestamp, message_key text, value blob, reason text,
            seen_at timestamp,
            PRIMARY KEY ((topic, day), kafka_partition, kafka_offset))""",
    "daily_leaderboard": """
        CREATE TABLE IF NOT EXISTS {ks}.daily_leaderboard (
            metric text, granularity text, scope text, day date,
            ranked list<frozen<tuple<int, bigint, text, text, bigint, text, decimal, bigint,
                                      decimal>>>,
            counted_until timestamp, cutoff timestamp, final boolean, updated_at timestamp,
            PRIMARY KEY ((metric, granularity, scope, day)))""",
    "daily_totals": """
        CREATE TABLE IF NOT EXISTS {ks}.daily_totals (
            scope text, day date,
            items list<frozen<tuple<bigint, bigint, text, text, text, bigint, decimal>>>,
            counted_until timestamp, updated_at timestamp,
            PRIMARY KEY ((scope, day)))""",
}


def ddl(settings: Settings) -> list[str]:
    """Every statement, in order, for the configured keyspace."""
    ks = settings.cassandra_keyspace
    keyspace = (f"CREATE KEYSPACE IF NOT EXISTS {ks} "
                f"WITH replication = {settings.cassandra_replication}")
    return [keyspace, *(" ".join(t.format(ks=ks).split()) for t in TABLES.values())]


def ensure_schema(session: Session, settings: Settings) -> None:
    """Create the keyspace and tables if missing (idempotent, safe to run concurrently)."""
    for statement in ddl(settings):
        session.execute(statement, timeout=60)


def outdated(session: Session, settings: Settings) -> str | None:
    """Why the keyspace's tables are from an older layout, or None when they are current."""
    rows = session.execute(
        "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s "
        "AND table_name = 'item_totals'", (settings.cassandra_keyspace,))
    columns = {r.column_name for r in rows}
    board = {r.column_name for r in session.execute(
        "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s "
        "AND table_name = 'leaderboard'", (settings.cassandra_keyspace,))}
    if (columns and "seller" not in columns) or (board and "granularity" not in board):
        return (f"keyspace {settings.cassandra_keyspace} holds leaderboards of an older layout "
                "(one granularity, the variant, instead of three)")
    return None


def windows_before_the_rule(session: Session, settings: Settings) -> str | None:
    """Before :func:`ensure_schema`: why windows already counted in the keyspace may differ
    from the windowing rule (they were counted before it: a cancellation that came later
    than the lateness was dropped from every window), or None."""
    tables = {r.table_name for r in session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
        (settings.cassandra_keyspace,))}
    if "pane_totals" in tables and "pane_tail_totals" not in tables:
        return (f"keyspace {settings.cassandra_keyspace} holds windows counted before the "
                "windowing rule (a cancellation that came after the lateness was dropped from "
                "every window); new windows follow the rule. To recount the old ones by it: "
                "`topproducts stream stop`, then `topproducts rebuild --yes`")
    return None


def drop_leaderboards(settings: Settings) -> None:
    """Drop the configured leaderboard keyspace on a session of its own."""
    from topproducts import cassandra_io

    session = cassandra_io.connect(settings)
    try:
        drop_keyspace(session, settings)
    finally:
        session.cluster.shutdown()


def drop_keyspace(session: Session, settings: Settings) -> None:
    """Drop all leaderboard data (used by ``stream reset`` and tests)."""
    session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}", timeout=60)
