"""Customers and addresses (``user_management``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymysql.connections import Connection

from services.queries._sql import one, rows
from topproducts.countries import BY_CODE
from topproducts.events import CustomerCreated, make_event
from topproducts.settings import Settings
from topproducts.shop import outbox
from topproducts.shop.schema import Tables

_COLUMNS = ("customer_id, first_name, last_name, email, phone, street, city, state, "
            "postal_code, country_code, created_at")


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


def create_customer(conn: Connection, s: Settings, c: dict[str, Any]) -> tuple[int, int]:
    """Insert a customer and its ``customer_created`` event (outbox), in the caller's
    transaction. Ids continue after the largest one (seeding fills 1..N and skips ids
    that exist). Returns (customer_id, events written)."""
    t = Tables.of(s)
    now = datetime.now(UTC)
    ts = outbox.naive_utc(now)
    a = c["address"]
    with conn.cursor() as cur:
        # Locks the end of the id index: concurrent creators queue here, not on a duplicate key.
        cur.execute(f"SELECT COALESCE(MAX(customer_id), 0) + 1 FROM {t.customers} FOR UPDATE")
        customer_id = int(cur.fetchone()[0])
        cur.execute(
            f"INSERT INTO {t.customers} ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (customer_id, c["first_name"], c["last_name"], c["email"], c["phone"], a["street"],
             a["city"], a["state"], a["postal_code"], a["country"], ts))
        event = make_event(CustomerCreated(customer_id=customer_id, country=a["country"],
                                           city=a["city"]), now)
        written = outbox.write(cur, t, outbox.outbox_rows(s, [event], now))
    return customer_id, written


def update_address(conn: Connection, s: Settings, customer_id: int, a: dict[str, Any]) -> bool:
    t = Tables.of(s)
    with conn.cursor() as cur:
        cur.execute(f"SELECT customer_id FROM {t.customers} WHERE customer_id = %s FOR UPDATE",
                    (customer_id,))
        if cur.fetchone() is None:
            return False
        cur.execute(f"UPDATE {t.customers} SET street = %s, city = %s, state = %s, "
                    "postal_code = %s, country_code = %s WHERE customer_id = %s",
                    (a["street"], a["city"], a["state"], a["postal_code"], a["country"],
                     customer_id))
    return True
