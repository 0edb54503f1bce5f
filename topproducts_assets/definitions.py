"""The Dagster code location: a table of contents.

Each domain module exposes ``ASSETS``, ``ASSET_CHECKS``, ``JOBS``, ``SCHEDULES``
and ``SENSORS``; add a domain by adding its module to ``DOMAINS``. Resources
are shared (``topproducts_assets.resources``).
"""

from __future__ import annotations

import dagster as dg

from topproducts_assets import daily, leaderboards, monitoring, resources, shop, streaming

DOMAINS = (
    shop,  # MySQL catalogue and orders -> Kafka events
    streaming,  # the Spark job, launched by Dagster, running outside it
    leaderboards,  # the Cassandra leaderboards: observable assets and their checks
    monitoring,  # the stream's health sensor; observations and checks on a clock
    daily,  # daily leaderboards: one partition per UTC day, from the MySQL ledger
)

defs = dg.Definitions(
    assets=[a for d in DOMAINS for a in d.ASSETS],
    asset_checks=[c for d in DOMAINS for c in d.ASSET_CHECKS],
    jobs=[j for d in DOMAINS for j in d.JOBS],
    schedules=[s for d in DOMAINS for s in d.SCHEDULES],
    sensors=[s for d in DOMAINS for s in d.SENSORS],
    resources=resources.RESOURCES,
)
