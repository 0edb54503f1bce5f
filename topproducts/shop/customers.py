"""Customers: created (with a ``customer_created`` event) and moved to a new address.

Seeding creates customers in bulk (:mod:`~topproducts.shop.seed`); these are the
one-at-a-time writes of the users API. Both work on the caller's cursor, inside
the caller's transaction; the event goes to the outbox in that transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from topproducts.events import CustomerCreated, make_event
from topproducts.settings import Settings
from topproducts.shop import outbox
from topproducts.shop.schema import Tables
from topproducts.shop.sql import naive_utc

CUSTOMER_COLUMNS = ("customer_id, first_name, last_name, email, phone, street, city, state, "
                    "postal_code, country_code, created_at")


@dataclass(frozen=True)
class Address:
    street: str
    city: str
    state: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2, one of the shop's countries


@dataclass(frozen=True)
class NewCustomer:
    first_name: str
    last_name: str
    email: str
    phone: str
    address: Address


def create_customer(cur, settings: Settings, c: NewCustomer,
                    now: datetime | None = None) -> tuple[int, int]:
    """Insert a customer and its ``customer_created`` event (outbox).

    Ids continue after the largest one (seeding fills 1..N and skips ids that
    exist). Returns (customer_id, events written).
    """
    t = Tables.of(settings)
    now = now or datetime.now(UTC)
    ts = naive_utc(now)
    a = c.address
    # Locks the end of the id index: concurrent creators queue here, not on a duplicate key.
    cur.execute(f"SELECT COALESCE(MAX(customer_id), 0) + 1 FROM {t.customers} FOR UPDATE")
    customer_id = int(cur.fetchone()[0])
    cur.execute(
        f"INSERT INTO {t.customers} ({CUSTOMER_COLUMNS}) "
        "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
        (customer_id, c.first_name, c.last_name, c.email, c.phone, a.street, a.city, a.state,
         a.postal_code, a.country, ts))
    event = make_event(CustomerCreated(customer_id=customer_id, country=a.country,
                                       city=a.city), now)
    written = outbox.write(cur, t, outbox.outbox_rows(settings, [event], now))
    return customer_id, written


def update_address(cur, settings: Settings, customer_id: int, a: Address) -> bool:
    """Replace a customer's address; False when the customer does not exist.

    Later orders are priced in the currency of the new country. Emits no event.
    """
    t = Tables.of(settings)
    cur.execute(f"SELECT customer_id FROM {t.customers} WHERE customer_id = %s FOR UPDATE",
                (customer_id,))
    if cur.fetchone() is None:
        return False
    cur.execute(f"UPDATE {t.customers} SET street = %s, city = %s, state = %s, "
                "postal_code = %s, country_code = %s WHERE customer_id = %s",
                (a.street, a.city, a.state, a.postal_code, a.country, customer_id))
    return True
