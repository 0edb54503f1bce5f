"""Seeding the shop with Faker: deterministic, idempotent, bulk.

- **Deterministic**: customer *k* and product *k* (with its variants) are a
  pure function of ``(seed, k)``: each row seeds its own random generator from
  that pair, so a row does not depend on the scale or on which rows existed.
- **Idempotent**: ids are ``1..N``; a run inserts only the ids that are
  missing, so re-running with the same seed and scale adds nothing, and a
  larger scale adds exactly the difference.
- **Bulk**: rows are generated in chunks and written as multi-row INSERTs
  (:func:`topproducts.shop.sql.insert_many`), one transaction per chunk.

New customers are facts other services care about: each one gets a
``customer_created`` event through the outbox, in the same transaction.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache

from faker import Faker

from topproducts import db
from topproducts.countries import COUNTRIES, Country
from topproducts.errors import ConfigError
from topproducts.events import CustomerCreated, make_event
from topproducts.money import round_money
from topproducts.settings import Settings, get_settings
from topproducts.shop import outbox, reference, sql
from topproducts.shop.schema import Tables, ensure_schema

DEFAULT_SEED = 42
DEFAULT_CUSTOMERS = 1000
DEFAULT_PRODUCTS = 200
CHUNK = 2000
MAX_SCALE = 10_000_000

# Where customers live (weights): the original shop was Indian-first.
COUNTRY_WEIGHTS: tuple[tuple[Country, int], ...] = tuple(
    zip(COUNTRIES, (35, 30, 15, 10, 10), strict=True))

Progress = Callable[[str, int, int], None]  # (task, done, total)


@dataclass(frozen=True)
class Customer:
    customer_id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    street: str
    city: str
    state: str
    postal_code: str
    country_code: str


@dataclass(frozen=True)
class Variant:
    variant_id: int
    product_id: int
    material_id: int
    seller_id: int
    sku: str
    price_usd: Decimal
    tax_rate: Decimal
    discount_rate: Decimal
    stock: int


@dataclass(frozen=True)
class Product:
    product_id: int
    name: str
    category_id: int
    description: str
    variants: tuple[Variant, ...]


@dataclass
class SeedReport:
    rows: dict[str, int] = field(default_factory=dict)  # inserted rows per table
    events: int = 0
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def count(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


def check_scale(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SCALE:
        raise ConfigError(f"{name} must be an integer from 0 to {MAX_SCALE:,}, got {value!r}")
    return value


# --- pure generators ---------------------------------------------------------------------


@cache
def _faker(locale: str) -> Faker:
    # use_weighting=False: uniform picks from the locale's lists, about 4x faster.
    return Faker(locale, use_weighting=False)


def _rng(seed: int, kind: str, k: int) -> random.Random:
    return random.Random(f"{seed}:{kind}:{k}")  # str seeds hash with SHA-512: stable


def _ascii_slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower()) or "x"


def make_customer(seed: int, customer_id: int) -> Customer:
    """Customer ``customer_id`` of the shop seeded with ``seed`` (pure, deterministic)."""
    rng = _rng(seed, "customer", customer_id)
    country = rng.choices([c for c, _ in COUNTRY_WEIGHTS], [w for _, w in COUNTRY_WEIGHTS])[0]
    fake = _faker(country.locale)
    fake.seed_instance(rng.getrandbits(64))
    first, last = fake.first_name(), fake.last_name()
    email = f"{_ascii_slug(first)}.{_ascii_slug(last)}{customer_id}@{fake.free_email_domain()}"
    return Customer(
        customer_id=customer_id,
        first_name=first,
        last_name=last,
        email=email,
        phone=fake.phone_number(),
        street=fake.street_address().replace("\n", ", "),
        city=fake.city(),
        state=fake.administrative_unit(),
        postal_code=fake.postcode(),
        country_code=country.code,
    )


def make_seller(seed: int, seller_id: int) -> tuple[int, str, str]:
    rng = _rng(seed, "seller", seller_id)
    country = rng.choice(COUNTRIES)
    fake = _faker(country.locale)
    fake.seed_instance(rng.getrandbits(64))
    return seller_id, fake.company(), country.code


def make_product(seed: int, product_id: int) -> Product:
    """Product ``product_id`` and its variants (pure, deterministic).

    A variant is product x material x seller: 1-3 materials times 1-2 sellers.
    ``variant_id = product_id * 10 + index``, so ids are stable too.
    """
    rng = _rng(seed, "product", product_id)
    category_index = rng.randrange(len(reference.CATEGORIES))
    _category, tax_rate, (low, high), nouns = reference.CATEGORIES[category_index]
    fake = _faker("en_US")
    fake.seed_instance(rng.getrandbits(64))
    name = f"{fake.last_name()} {rng.choice(reference.ADJECTIVES)} {rng.choice(nouns)}"
    base_cents = rng.randint(low * 100, high * 100)
    material_ids = sorted(rng.sample(range(1, len(reference.MATERIALS) + 1), rng.randint(1, 3)))
    seller_ids = sorted(rng.sample(range(1, reference.SELLERS + 1), rng.randint(1, 2)))
    variants = []
    index = 0
    for material_id in material_ids:
        _material, multiplier = reference.MATERIALS[material_id - 1]
        for seller_id in seller_ids:
            seller_factor = Decimal(rng.randint(95, 105)) / 100
            price = round_money(Decimal(base_cents) / 100 * multiplier * seller_factor)
            variants.append(Variant(
                variant_id=product_id * 10 + index,
                product_id=product_id,
                material_id=material_id,
                seller_id=seller_id,
                sku=f"P{product_id:07d}-M{material_id:02d}-S{seller_id:02d}",
                price_usd=max(price, Decimal("0.50")),
                tax_rate=tax_rate,
                discount_rate=rng.choice(reference.DISCOUNT_RATES),
                stock=rng.randint(300, 3000),
            ))
            index += 1
    assert index <= reference.MAX_VARIANTS_PER_PRODUCT
    return Product(product_id=product_id, name=name, category_id=category_index + 1,
                   description=fake.sentence(nb_words=12), variants=tuple(variants))


# --- writers -----------------------------------------------------------------------------


def _missing(cur, table: str, id_column: str, total: int) -> list[int]:
    cur.execute(f"SELECT {id_column} FROM {table} WHERE {id_column} <= %s", (total,))
    have = {row[0] for row in cur.fetchall()}
    return [k for k in range(1, total + 1) if k not in have]


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _insert_missing(cur, table: str, columns: str, rows: list[tuple]) -> int:
    """Insert the rows whose first column (the key) is not in ``table`` yet."""
    key = columns.split(",")[0].strip()
    cur.execute(f"SELECT {key} FROM {table}")
    have = {row[0] for row in cur.fetchall()}
    new = [r for r in rows if r[0] not in have]
    if new:
        marks = ",".join(["%s"] * len(new[0]))
        cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", new)
    return len(new)


def _insert_countries(cur, t: Tables) -> int:
    return _insert_missing(cur, t.countries, "code, name, currency, locale",
                           [(c.code, c.name, c.currency, c.locale) for c in COUNTRIES])


def seed_fx_rates(settings: Settings) -> SeedReport:
    """The five countries and the fixed FX rates to USD (insert missing rows only)."""
    t = Tables.of(settings)
    report = SeedReport()
    started = time.perf_counter()
    now = sql.naive_utc(datetime.now(UTC))
    with db.transaction(settings) as conn, conn.cursor() as cur:
        report.count("countries", _insert_countries(cur, t))
        report.count("fx_rates", _insert_missing(
            cur, t.fx_rates, "currency, rate_usd, updated_at",
            [(cur_, rate, now) for cur_, rate in reference.FX_RATES_USD.items()]))
    report.seconds = time.perf_counter() - started
    return report


def _seed_catalogue_reference(settings: Settings, seed: int, report: SeedReport) -> None:
    t = Tables.of(settings)
    now = sql.naive_utc(datetime.now(UTC))
    with db.transaction(settings) as conn, conn.cursor() as cur:
        report.count("categories", _insert_missing(
            cur, t.categories, "category_id, name",
            [(i, c[0]) for i, c in enumerate(reference.CATEGORIES, start=1)]))
        report.count("materials", _insert_missing(
            cur, t.materials, "material_id, name",
            [(i, m[0]) for i, m in enumerate(reference.MATERIALS, start=1)]))
        report.count("sellers", _insert_missing(
            cur, t.sellers, "seller_id, name, country_code, created_at",
            [(*make_seller(seed, k), now) for k in range(1, reference.SELLERS + 1)]))


def seed_customers(
    settings: Settings,
    total: int,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> SeedReport:
    """Make sure customers ``1..total`` exist; insert the missing ones with their events."""
    check_scale("customers", total)
    t = Tables.of(settings)
    report = SeedReport()
    started = time.perf_counter()
    with db.transaction(settings) as conn, conn.cursor() as cur:
        report.count("countries", _insert_countries(cur, t))  # customers need their country
        missing = _missing(cur, t.customers, "customer_id", total)
    done = 0
    report.count("customers", 0)
    if progress:
        progress("customers", 0, len(missing))
    for chunk in _chunks(missing, CHUNK):
        now = datetime.now(UTC)
        created = sql.naive_utc(now)
        customers = [make_customer(seed, k) for k in chunk]
        rows = [(c.customer_id, c.first_name, c.last_name, c.email, c.phone, c.street, c.city,
                 c.state, c.postal_code, c.country_code, created) for c in customers]
        events = [make_event(CustomerCreated(customer_id=c.customer_id, country=c.country_code,
                                             city=c.city), now) for c in customers]
        with db.transaction(settings) as conn, conn.cursor() as cur:
            sql.insert_many(
                cur, f"INSERT INTO {t.customers} (customer_id, first_name, last_name, email, "
                "phone, street, city, state, postal_code, country_code, created_at) VALUES", rows)
            outbox.write(cur, t, outbox.outbox_rows(settings, events, now))
        report.count("customers", len(rows))
        report.count("outbox", len(events))
        report.events += len(events)
        done += len(chunk)
        if progress:
            progress("customers", done, len(missing))
    report.seconds = time.perf_counter() - started
    return report


def seed_catalogue(
    settings: Settings,
    total: int,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> SeedReport:
    """Make sure products ``1..total`` (and their variants) exist; insert the missing ones.

    Categories, materials and the sellers come first (also insert-missing-only).
    """
    check_scale("products", total)
    t = Tables.of(settings)
    report = SeedReport()
    started = time.perf_counter()
    _seed_catalogue_reference(settings, seed, report)
    with db.transaction(settings) as conn, conn.cursor() as cur:
        missing = _missing(cur, t.products, "product_id", total)
    done = 0
    report.count("products", 0)
    report.count("variants", 0)
    if progress:
        progress("products", 0, len(missing))
    for chunk in _chunks(missing, CHUNK):
        created = sql.naive_utc(datetime.now(UTC))
        products = [make_product(seed, k) for k in chunk]
        product_rows = [(p.product_id, p.name, p.category_id, p.description, created)
                        for p in products]
        variant_rows = [(v.variant_id, v.product_id, v.material_id, v.seller_id, v.sku,
                         v.price_usd, v.tax_rate, v.discount_rate, v.stock, created)
                        for p in products for v in p.variants]
        with db.transaction(settings) as conn, conn.cursor() as cur:
            sql.insert_many(
                cur, f"INSERT INTO {t.products} (product_id, name, category_id, description, "
                "created_at) VALUES", product_rows)
            sql.insert_many(
                cur, f"INSERT INTO {t.variants} (variant_id, product_id, material_id, seller_id, "
                "sku, price_usd, tax_rate, discount_rate, stock, updated_at) VALUES",
                variant_rows)
        report.count("products", len(product_rows))
        report.count("variants", len(variant_rows))
        done += len(chunk)
        if progress:
            progress("products", done, len(missing))
    report.seconds = time.perf_counter() - started
    return report


def seed(
    settings: Settings | None = None,
    customers: int = DEFAULT_CUSTOMERS,
    products: int = DEFAULT_PRODUCTS,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> SeedReport:
    """Schema, reference data, catalogue and customers, up to the given scale.

    The customers' events are in the outbox afterwards; publish them with
    :func:`topproducts.shop.outbox.publish_pending`.
    """
    s = settings or get_settings()
    check_scale("customers", customers)
    check_scale("products", products)
    started = time.perf_counter()
    ensure_schema(s)
    report = SeedReport()
    for part in (seed_fx_rates(s), seed_catalogue(s, products, seed, progress),
                 seed_customers(s, customers, seed, progress)):
        for table, n in part.rows.items():
            report.count(table, n)
        report.events += part.events
    report.seconds = time.perf_counter() - started
    return report


def count_rows(settings: Settings, names: Sequence[str] = ("customers", "products", "variants",
                                                          "sellers", "fx_rates")
               ) -> dict[str, int]:
    """Row counts of seeded tables, by :class:`Tables` attribute name (for reports)."""
    t = Tables.of(settings)
    counts = {}
    with db.transaction(settings) as conn, conn.cursor() as cur:
        for name in names:
            cur.execute(f"SELECT COUNT(*) FROM {getattr(t, name)}")
            counts[name] = int(cur.fetchone()[0])
    return counts
