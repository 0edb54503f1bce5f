"""Seed generators are pure and deterministic; the schema is portable SQL."""

from __future__ import annotations

import re

import pytest

from topproducts import db
from topproducts.countries import BY_CODE
from topproducts.errors import ConfigError
from topproducts.settings import Settings
from topproducts.shop import schema, seed
from topproducts.shop.reference import FX_RATES_USD, MAX_VARIANTS_PER_PRODUCT


def test_customer_k_depends_only_on_seed_and_k() -> None:
    a = [seed.make_customer(42, k) for k in (1, 2, 3, 500)]
    seed.make_customer(7, 99)  # other calls in between must not matter
    b = [seed.make_customer(42, k) for k in (1, 2, 3, 500)]
    assert a == b
    assert seed.make_customer(43, 1) != a[0]


def test_customers_have_full_local_addresses() -> None:
    customers = [seed.make_customer(1, k) for k in range(1, 400)]
    countries = {c.country_code for c in customers}
    assert countries == set(BY_CODE)
    for c in customers:
        for value in (c.first_name, c.last_name, c.street, c.city, c.state, c.postal_code):
            assert value and "\n" not in value
        assert re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+", c.email)
    ca = [c for c in customers if c.country_code == "CA"]
    assert all(re.fullmatch(r"[A-Z]\d[A-Z] ?\d[A-Z]\d", c.postal_code) for c in ca)


def test_products_and_variants_are_deterministic_and_well_formed() -> None:
    p1 = seed.make_product(42, 17)
    assert p1 == seed.make_product(42, 17)
    for k in range(1, 300):
        p = seed.make_product(42, k)
        assert 1 <= len(p.variants) <= MAX_VARIANTS_PER_PRODUCT
        combos = {(v.material_id, v.seller_id) for v in p.variants}
        assert len(combos) == len(p.variants)
        for v in p.variants:
            assert v.variant_id // 10 == k
            assert v.price_usd > 0 and v.price_usd == v.price_usd.quantize(v.price_usd)
            assert v.stock > 0
            assert 0 <= v.discount_rate < 1


def test_scale_checks() -> None:
    assert seed.check_scale("customers", 0) == 0
    for bad in (-1, 1.5, True, "3", seed.MAX_SCALE + 1):
        with pytest.raises(ConfigError, match="customers"):
            seed.check_scale("customers", bad)  # type: ignore[arg-type]


def test_fx_rates_cover_every_currency_with_six_places() -> None:
    assert set(FX_RATES_USD) == {c.currency for c in BY_CODE.values()}
    for rate in FX_RATES_USD.values():
        assert rate > 0 and rate.as_tuple().exponent == -6


def test_migrations_are_idempotent_and_portable() -> None:
    assert set(schema.MIGRATIONS) == set(db.DATABASES)
    for name, migrations in schema.MIGRATIONS.items():
        versions = [m.version for m in migrations]
        assert versions == sorted(set(versions)) and versions[0] == 1, name
        for m in migrations:
            for sql in m.statements:
                assert re.match(r"\s*CREATE TABLE IF NOT EXISTS ", sql), sql[:60]
                # MariaDB-only syntax that MySQL 8 rejects
                for word in ("CREATE SEQUENCE", "NEXTVAL", "RETURNING", "PERSISTENT", "INET6",
                             " UUID", "VALUES("):
                    assert word not in sql.upper(), (name, word)
                assert "FLOAT" not in sql.upper() and "DOUBLE" not in sql.upper()


def test_tables_are_qualified_with_the_prefix() -> None:
    t = schema.Tables.of(Settings(mysql_database_prefix="t1_"))
    assert t.orders == "`t1_order_management`.`orders`"
    assert t.customers == "`t1_user_management`.`customers`"
