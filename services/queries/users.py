"""Customers and addresses (``user_management``)."""

from __future__ import annotations

from typing import Any

from services.queries._sql import one, rows
from topproducts.countries import BY_CODE
from topproducts.db import Connection
from topproducts.settings import Settings
from topproducts.shop.customers import CUSTOMER_COLUMNS as _COLUMNS
from topproducts.shop.schema import Tables


def _shape(r: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: r[k] for k in ("customer_id", "first_name", "last_name", "email", "phone",
                             "created_at")},
        "address": {"street": r["street"], "city": r["city"], "state": r["state"],
                    "postal_code": r["postal_code"], "country": r["country_code"]},
        "currency": BY_CODE[r["country_code"]].currency,
    }


def list_customers(conn: Connection, s: Settings, country: str | None, limit: int,
                   offset: int) -> list[dict[str, Any]]:
    t = Tables.of(s)
    where, params = ("WHERE country_code = %s", [country]) if country else ("", [])
    found = rows(conn, f"SELECT {_COLUMNS} FROM {t.customers} {where} "
                       "ORDER BY customer_id LIMIT %s OFFSET %s", [*params, limit, offset])
    return [_shape(r) for r in found]


def get_customer(conn: Connection, s: Settings, customer_id: int) -> dict[str, Any] | None:
    t = Tables.of(s)
    r = one(conn, f"SELECT {_COLUMNS} FROM {t.customers} WHERE customer_id = %s",
            (customer_id,))
    return _shape(r) if r else None
