"""Rows and events of one domain write, flushed as multi-row INSERTs on the caller's cursor."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from topproducts.settings import Settings
from topproducts.shop import outbox, sql
from topproducts.shop.schema import Tables


def _statements(t: Tables) -> dict[str, str]:
    """INSERT heads per kind of row, parents before children."""
    return {
        "orders": f"INSERT INTO {t.orders} (order_id, customer_id, country_code, currency, "
                  "fx_rate_usd, payment_mode, status, subtotal, discount, tax, total, "
                  "revenue, revenue_usd, placed_at, confirmed_at, cancelled_at, "
                  "cancel_reason) VALUES",
        "items": f"INSERT INTO {t.order_items} (order_id, line_no, variant_id, product_id, "
                 "product_name, material, quantity, unit_price, subtotal, discount, tax, "
                 "line_total, revenue, revenue_usd) VALUES",
        "order_history": f"INSERT INTO {t.order_status_history} (order_id, status, "
                         "changed_at) VALUES",
        "payments": f"INSERT INTO {t.payments} (payment_id, order_id, mode, method, status, "
                    "amount, currency, created_at, updated_at) VALUES",
        "shipments": f"INSERT INTO {t.shipments} (shipment_id, order_id, carrier, "
                     "tracking_number, status, is_open, created_at, updated_at) VALUES",
        "shipment_history": f"INSERT INTO {t.shipment_status_history} (shipment_id, status, "
                            "changed_at) VALUES",
    }


class WriteBatch:
    """Rows and events to write, grouped per table, flushed as multi-row INSERTs.

    ``rows`` maps a kind (``orders``, ``items``, ``order_history``, ``payments``,
    ``shipments``, ``shipment_history``) to its rows; events go to the outbox in the
    same transaction. It may be flushed more than once (each flush writes what was
    added since the last); rows keep their order within each table, so the tables
    end up the same.
    """

    def __init__(self, settings: Settings, tables: Tables, now: datetime) -> None:
        self.settings, self.t, self.now = settings, tables, now
        self.ts = sql.naive_utc(now)
        self.rows: dict[str, list[tuple]] = defaultdict(list)
        self.events = outbox.EventRows(settings, now)
        self.written_rows = self.written_events = 0

    def event(self, payload, occurred_at: datetime | None = None) -> None:
        self.events.add(payload, occurred_at)

    def flush(self, cur) -> tuple[int, int]:
        """Write the pending rows and events; return the rows and events written so far."""
        rows = 0
        for name, statement in _statements(self.t).items():
            if self.rows[name]:
                sql.insert_many(cur, statement, self.rows[name])
                rows += len(self.rows[name])
        rows += outbox.write(cur, self.t, self.events.rows())
        self.written_rows += rows
        self.written_events += len(self.events)
        self.rows.clear()
        self.events = outbox.EventRows(self.settings, self.now)
        return self.written_rows, self.written_events
