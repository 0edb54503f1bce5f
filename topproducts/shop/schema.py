"""The shop's MySQL schema: versioned DDL for the five databases, applied idempotently.

Each database has a ``schema_version`` table listing the migrations applied to
it. :func:`ensure_schema` creates the databases if needed and applies, in
order, the migrations a database has not seen; every statement is also
``CREATE ... IF NOT EXISTS``, so a half-applied migration (DDL commits
implicitly in MySQL) is safe to re-run. A named lock (``GET_LOCK``) keeps two
processes from migrating at once.

Portable SQL only (MariaDB 10.6+ and MySQL 8.0.16+): no sequences, no
``RETURNING``, no ``VALUES()`` in upserts. Money is ``DECIMAL(14,2)``, rates
``DECIMAL(18,6)``, times ``DATETIME(6)`` in UTC. Databases reference each other
by id only (no cross-database foreign keys); within a database, foreign keys
hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from topproducts import db
from topproducts.errors import StackError
from topproducts.settings import Settings, get_settings

log = logging.getLogger(__name__)

_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"


@dataclass(frozen=True)
class Migration:
    """DDL statements, then (optionally) ``apply(cur)`` for what plain DDL cannot say
    idempotently (MySQL 8 has no ``DROP COLUMN IF EXISTS``): it must be safe to re-run."""

    version: int
    description: str
    statements: tuple[str, ...]
    apply: Callable[[Any], None] | None = None


def _t(sql: str) -> str:
    return f"{sql.strip()} {_TABLE_OPTIONS}"


# Each database that allocates ids keeps its own sequences (no cross-database writes).
ID_SEQUENCES = _t("""
    CREATE TABLE IF NOT EXISTS id_sequences (
        name VARCHAR(64) NOT NULL PRIMARY KEY,
        next_id BIGINT NOT NULL
    )""")


RELAY = "relay"  # the outbox relay's row in outbox_relay (one per database prefix)
OUTBOX_SEQUENCE = "outbox"  # the outbox ids' row in order_management.id_sequences


def _columns(cur, table: str) -> set[str]:
    cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (table,))
    return {row[0] for row in cur.fetchall()}


def _indexes(cur, table: str) -> set[str]:
    cur.execute("SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (table,))
    return {row[0] for row in cur.fetchall()}


def _outbox_position(cur) -> None:
    """Migration 2 of order_management: from per-row ``published_at`` marks to a position.

    The relay's position starts just below the oldest unpublished row (or at the last
    row when everything was published), so every row that was pending stays pending;
    rows above it that an old relay had marked are published again (at least once: the
    stream dedupes). Outbox ids come from the ``outbox`` sequence from now on, starting
    after the last id; the column loses AUTO_INCREMENT so a writer that does not
    allocate fails instead of leaving a gap. Safe to re-run at any step.
    """
    marked = "published_at" in _columns(cur, "outbox")
    if marked:
        cur.execute(
            "INSERT IGNORE INTO outbox_relay (name, published_through, updated_at) "
            "SELECT %s, COALESCE((SELECT MIN(id) - 1 FROM outbox WHERE published_at IS NULL), "
            "(SELECT MAX(id) FROM outbox), 0), UTC_TIMESTAMP(6)", (RELAY,))
    else:
        cur.execute("INSERT IGNORE INTO outbox_relay (name, published_through, updated_at) "
                    "VALUES (%s, 0, UTC_TIMESTAMP(6))", (RELAY,))
    cur.execute("INSERT IGNORE INTO id_sequences (name, next_id) "
                "SELECT %s, COALESCE(MAX(id), 0) + 1 FROM outbox", (OUTBOX_SEQUENCE,))
    changes = ["MODIFY id BIGINT NOT NULL"]
    if "ix_outbox_pending" in _indexes(cur, "outbox"):
        changes.append("DROP INDEX ix_outbox_pending")
    if marked:
        changes.append("DROP COLUMN published_at")
    cur.execute(f"ALTER TABLE outbox {', '.join(changes)}")


MIGRATIONS: dict[str, tuple[Migration, ...]] = {
    "user_management": (
        Migration(1, "countries and customers", (
            _t("""
            CREATE TABLE IF NOT EXISTS countries (
                code CHAR(2) NOT NULL PRIMARY KEY,
                name VARCHAR(64) NOT NULL,
                currency CHAR(3) NOT NULL,
                locale VARCHAR(16) NOT NULL
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS customers (
                customer_id BIGINT NOT NULL PRIMARY KEY,
                first_name VARCHAR(100) NOT NULL,
                last_name VARCHAR(100) NOT NULL,
                email VARCHAR(255) NOT NULL,
                phone VARCHAR(40) NOT NULL,
                street VARCHAR(255) NOT NULL,
                city VARCHAR(100) NOT NULL,
                state VARCHAR(100) NOT NULL,
                postal_code VARCHAR(20) NOT NULL,
                country_code CHAR(2) NOT NULL,
                created_at DATETIME(6) NOT NULL,
                KEY ix_customers_country (country_code),
                CONSTRAINT fk_customers_country FOREIGN KEY (country_code)
                    REFERENCES countries (code)
            )"""),
        )),
    ),
    "inventory_management": (
        Migration(1, "catalogue: categories, materials, sellers, products, variants", (
            _t("""
            CREATE TABLE IF NOT EXISTS categories (
                category_id INT NOT NULL PRIMARY KEY,
                name VARCHAR(64) NOT NULL,
                UNIQUE KEY uq_categories_name (name)
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS materials (
                material_id INT NOT NULL PRIMARY KEY,
                name VARCHAR(64) NOT NULL,
                UNIQUE KEY uq_materials_name (name)
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS sellers (
                seller_id INT NOT NULL PRIMARY KEY,
                name VARCHAR(255) NOT NULL,
                country_code CHAR(2) NOT NULL,
                created_at DATETIME(6) NOT NULL
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS products (
                product_id BIGINT NOT NULL PRIMARY KEY,
                name VARCHAR(255) NOT NULL,
                category_id INT NOT NULL,
                description VARCHAR(1000) NOT NULL,
                created_at DATETIME(6) NOT NULL,
                KEY ix_products_category (category_id),
                CONSTRAINT fk_products_category FOREIGN KEY (category_id)
                    REFERENCES categories (category_id)
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS variants (
                variant_id BIGINT NOT NULL PRIMARY KEY,
                product_id BIGINT NOT NULL,
                material_id INT NOT NULL,
                seller_id INT NOT NULL,
                sku VARCHAR(64) NOT NULL,
                price_usd DECIMAL(14,2) NOT NULL,
                tax_rate DECIMAL(18,6) NOT NULL,
                discount_rate DECIMAL(18,6) NOT NULL,
                stock INT NOT NULL,
                updated_at DATETIME(6) NOT NULL,
                UNIQUE KEY uq_variants_combo (product_id, material_id, seller_id),
                UNIQUE KEY uq_variants_sku (sku),
                CONSTRAINT ck_variants_stock CHECK (stock >= 0),
                CONSTRAINT ck_variants_price CHECK (price_usd > 0),
                CONSTRAINT fk_variants_product FOREIGN KEY (product_id)
                    REFERENCES products (product_id),
                CONSTRAINT fk_variants_material FOREIGN KEY (material_id)
                    REFERENCES materials (material_id),
                CONSTRAINT fk_variants_seller FOREIGN KEY (seller_id)
                    REFERENCES sellers (seller_id)
            )"""),
        )),
    ),
    "order_management": (
        Migration(1, "orders, line items, status history, outbox, id sequences", (
            ID_SEQUENCES,
            _t("""
            CREATE TABLE IF NOT EXISTS orders (
                order_id BIGINT NOT NULL PRIMARY KEY,
                customer_id BIGINT NOT NULL,
                country_code CHAR(2) NOT NULL,
                currency CHAR(3) NOT NULL,
                fx_rate_usd DECIMAL(18,6) NOT NULL,
                payment_mode VARCHAR(20) NOT NULL,
                status VARCHAR(20) NOT NULL,
                subtotal DECIMAL(14,2) NOT NULL,
                discount DECIMAL(14,2) NOT NULL,
                tax DECIMAL(14,2) NOT NULL,
                total DECIMAL(14,2) NOT NULL,
                revenue DECIMAL(14,2) NOT NULL,
                revenue_usd DECIMAL(14,2) NOT NULL,
                placed_at DATETIME(6) NOT NULL,
                confirmed_at DATETIME(6) NULL,
                cancelled_at DATETIME(6) NULL,
                cancel_reason VARCHAR(255) NULL,
                KEY ix_orders_customer (customer_id),
                CONSTRAINT ck_orders_mode CHECK (payment_mode IN ('prepaid', 'pay_on_delivery'))
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS order_items (
                order_id BIGINT NOT NULL,
                line_no INT NOT NULL,
                variant_id BIGINT NOT NULL,
                product_id BIGINT NOT NULL,
                product_name VARCHAR(255) NOT NULL,
                material VARCHAR(64) NOT NULL,
                quantity INT NOT NULL,
                unit_price DECIMAL(14,2) NOT NULL,
                subtotal DECIMAL(14,2) NOT NULL,
                discount DECIMAL(14,2) NOT NULL,
                tax DECIMAL(14,2) NOT NULL,
                line_total DECIMAL(14,2) NOT NULL,
                revenue DECIMAL(14,2) NOT NULL,
                revenue_usd DECIMAL(14,2) NOT NULL,
                PRIMARY KEY (order_id, line_no),
                CONSTRAINT ck_items_quantity CHECK (quantity >= 1),
                CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS order_status_history (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                order_id BIGINT NOT NULL,
                status VARCHAR(20) NOT NULL,
                changed_at DATETIME(6) NOT NULL,
                KEY ix_history_order (order_id),
                CONSTRAINT fk_history_order FOREIGN KEY (order_id) REFERENCES orders (order_id)
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS outbox (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                event_id CHAR(36) CHARACTER SET ascii NOT NULL,
                event_type VARCHAR(40) CHARACTER SET ascii NOT NULL,
                topic VARCHAR(249) CHARACTER SET ascii NOT NULL,
                `key` VARCHAR(64) CHARACTER SET ascii NOT NULL,
                `value` MEDIUMBLOB NOT NULL,
                created_at DATETIME(6) NOT NULL,
                published_at DATETIME(6) NULL,
                UNIQUE KEY uq_outbox_event (event_id),
                KEY ix_outbox_pending (published_at, id)
            )"""),
        )),
        Migration(2, "outbox: ids from a sequence (commit order), a relay position instead "
                     "of published_at", (
            _t("""
            CREATE TABLE IF NOT EXISTS outbox_relay (
                name VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
                published_through BIGINT NOT NULL,
                updated_at DATETIME(6) NOT NULL
            )"""),
        ), apply=_outbox_position),
    ),
    "transaction_management": (
        Migration(1, "fx rates, payments, id sequences", (
            ID_SEQUENCES,
            _t("""
            CREATE TABLE IF NOT EXISTS fx_rates (
                currency CHAR(3) NOT NULL PRIMARY KEY,
                rate_usd DECIMAL(18,6) NOT NULL,
                updated_at DATETIME(6) NOT NULL,
                CONSTRAINT ck_fx_positive CHECK (rate_usd > 0)
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS payments (
                payment_id BIGINT NOT NULL PRIMARY KEY,
                order_id BIGINT NOT NULL,
                mode VARCHAR(20) NOT NULL,
                method VARCHAR(40) NOT NULL,
                status VARCHAR(20) NOT NULL,
                amount DECIMAL(14,2) NOT NULL,
                currency CHAR(3) NOT NULL,
                created_at DATETIME(6) NOT NULL,
                updated_at DATETIME(6) NOT NULL,
                UNIQUE KEY uq_payments_order (order_id),
                CONSTRAINT ck_payments_mode CHECK (mode IN ('prepaid', 'pay_on_delivery')),
                CONSTRAINT ck_payments_status CHECK (status IN ('pending', 'paid', 'failed'))
            )"""),
        )),
    ),
    "shipping_management": (
        Migration(1, "shipments, status history, id sequences", (
            ID_SEQUENCES,
            _t("""
            CREATE TABLE IF NOT EXISTS shipments (
                shipment_id BIGINT NOT NULL PRIMARY KEY,
                order_id BIGINT NOT NULL,
                carrier VARCHAR(64) NOT NULL,
                tracking_number VARCHAR(64) NOT NULL,
                status VARCHAR(32) NOT NULL,
                is_open TINYINT NOT NULL,
                created_at DATETIME(6) NOT NULL,
                updated_at DATETIME(6) NOT NULL,
                delivered_at DATETIME(6) NULL,
                UNIQUE KEY uq_shipments_order (order_id),
                KEY ix_shipments_open (is_open, shipment_id)
            )"""),
            _t("""
            CREATE TABLE IF NOT EXISTS shipment_status_history (
                id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                shipment_id BIGINT NOT NULL,
                status VARCHAR(32) NOT NULL,
                changed_at DATETIME(6) NOT NULL,
                KEY ix_shipment_history (shipment_id),
                CONSTRAINT fk_shipment_history FOREIGN KEY (shipment_id)
                    REFERENCES shipments (shipment_id)
            )"""),
        )),
    ),
}
assert set(MIGRATIONS) == set(db.DATABASES), "a migration list per database"

_VERSION_TABLE = _t("""
CREATE TABLE IF NOT EXISTS schema_version (
    version INT NOT NULL PRIMARY KEY,
    description VARCHAR(255) NOT NULL,
    applied_at DATETIME(6) NOT NULL
)""")


def latest_version(database: str) -> int:
    return max(m.version for m in MIGRATIONS[database])


def ensure_schema(settings: Settings | None = None) -> dict[str, list[int]]:
    """Create the five databases and apply missing migrations; return what was applied."""
    s = settings or get_settings()
    applied: dict[str, list[int]] = {}
    conn = db.connect(s, autocommit=True)
    lock = f"topproducts.schema.{s.mysql_database_prefix}"[:64]
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 60)", (lock,))
            if cur.fetchone()[0] != 1:
                raise StackError(f"MySQL: could not take the schema lock {lock!r} within 60 s")
            try:
                for name in db.DATABASES:
                    applied[name] = _migrate(cur, s.database(name), MIGRATIONS[name])
            finally:
                cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))
    finally:
        conn.close()
    return applied


def _migrate(cur, database: str, migrations: tuple[Migration, ...]) -> list[int]:
    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` "
                "DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    cur.execute(f"USE `{database}`")
    cur.execute(_VERSION_TABLE)
    cur.execute("SELECT version FROM schema_version")
    seen = {row[0] for row in cur.fetchall()}
    done = []
    for m in sorted(migrations, key=lambda m: m.version):
        if m.version in seen:
            continue
        log.info("migrating %s to version %d: %s", database, m.version, m.description)
        for statement in m.statements:
            cur.execute(statement)
        if m.apply is not None:
            m.apply(cur)
        cur.execute(
            "INSERT INTO schema_version (version, description, applied_at) "
            "VALUES (%s, %s, UTC_TIMESTAMP(6))",
            (m.version, m.description),
        )
        done.append(m.version)
    return done


def drop_databases(settings: Settings) -> None:
    """Drop the five databases of ``settings`` (tests and benchmarks with a prefix only)."""
    if not settings.mysql_database_prefix:
        raise StackError("refusing to drop the shop databases without a database prefix")
    conn = db.connect(settings, autocommit=True)
    try:
        with conn.cursor() as cur:
            for name in db.DATABASES:
                cur.execute(f"DROP DATABASE IF EXISTS `{settings.database(name)}`")
    finally:
        conn.close()


@dataclass(frozen=True)
class Tables:
    """Fully qualified table names (`db`.`table`) for one settings' database prefix.

    The shop writes across its databases on one connection, in one transaction
    (they share a server), so every statement names its tables in full.
    """

    countries: str
    customers: str
    categories: str
    materials: str
    sellers: str
    products: str
    variants: str
    orders: str
    order_items: str
    order_status_history: str
    outbox: str
    outbox_relay: str
    order_sequences: str
    fx_rates: str
    payments: str
    payment_sequences: str
    shipments: str
    shipment_status_history: str
    shipment_sequences: str

    @classmethod
    def of(cls, settings: Settings) -> Tables:
        def q(database: str, table: str) -> str:
            return f"`{settings.database(database)}`.`{table}`"

        return cls(
            countries=q("user_management", "countries"),
            customers=q("user_management", "customers"),
            categories=q("inventory_management", "categories"),
            materials=q("inventory_management", "materials"),
            sellers=q("inventory_management", "sellers"),
            products=q("inventory_management", "products"),
            variants=q("inventory_management", "variants"),
            orders=q("order_management", "orders"),
            order_items=q("order_management", "order_items"),
            order_status_history=q("order_management", "order_status_history"),
            outbox=q("order_management", "outbox"),
            outbox_relay=q("order_management", "outbox_relay"),
            order_sequences=q("order_management", "id_sequences"),
            fx_rates=q("transaction_management", "fx_rates"),
            payments=q("transaction_management", "payments"),
            payment_sequences=q("transaction_management", "id_sequences"),
            shipments=q("shipping_management", "shipments"),
            shipment_status_history=q("shipping_management", "shipment_status_history"),
            shipment_sequences=q("shipping_management", "id_sequences"),
        )


def allocate_ids(cur, sequences_table: str, name: str, count: int) -> range:
    """Reserve ``count`` consecutive ids from a sequence row, inside the caller's transaction.

    The row lock taken by the UPDATE is held until commit, so concurrent
    writers get disjoint ranges; a rolled-back transaction gives its range
    back. (AUTO_INCREMENT does not promise consecutive ids to a multi-row
    INSERT under ``innodb_autoinc_lock_mode=2``, MySQL 8's default.)
    """
    if count <= 0:
        return range(0)
    cur.execute(
        f"INSERT INTO {sequences_table} (name, next_id) VALUES (%s, 1) "
        "ON DUPLICATE KEY UPDATE name = name",
        (name,),
    )
    cur.execute(f"UPDATE {sequences_table} SET next_id = next_id + %s WHERE name = %s",
                (count, name))
    cur.execute(f"SELECT next_id FROM {sequences_table} WHERE name = %s", (name,))
    end = cur.fetchone()[0]
    return range(end - count, end)
