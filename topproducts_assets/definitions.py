"""The Dagster code location: a table of contents.

Each domain module exports its own ``defs`` (assets, checks, jobs, schedules, sensors,
and the shared resources of :mod:`topproducts_assets.resources`); this file merges
them. Add a domain by adding its module's ``defs`` here.
"""

from __future__ import annotations

import dagster as dg

from topproducts_assets import daily, leaderboards, monitoring, shop, streaming

defs = dg.Definitions.merge(
    shop.defs,  # MySQL catalogue and orders -> Kafka events
    streaming.defs,  # the Spark job, launched by Dagster, running outside it
    leaderboards.defs,  # the Cassandra leaderboards: observable assets and their checks
    monitoring.defs,  # the stream's health sensor; observations and checks on a clock
    daily.defs,  # daily leaderboards: one partition per UTC day, from the MySQL ledger
)
