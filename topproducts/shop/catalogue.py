"""What an order is priced from: variants (with product, material, seller), FX rates and
the customers' countries, read on the caller's cursor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from topproducts.shop.schema import Tables
from topproducts.shop.sql import int_list


@dataclass(frozen=True)
class Variant:
    variant_id: int
    product_id: int
    product_name: str
    material: str
    seller: str
    price_usd: Decimal
    tax_rate: Decimal
    discount_rate: Decimal


def load_variants(cur, tables: Tables, variant_ids: Sequence[int]) -> dict[int, Variant]:
    """The variants that exist among ``variant_ids``, by id."""
    ids = sorted(set(variant_ids))
    cur.execute(
        f"SELECT v.variant_id, v.product_id, p.name, m.name, s.name, v.price_usd, v.tax_rate, "
        f"v.discount_rate FROM {tables.variants} v "
        f"JOIN {tables.products} p ON p.product_id = v.product_id "
        f"JOIN {tables.materials} m ON m.material_id = v.material_id "
        f"JOIN {tables.sellers} s ON s.seller_id = v.seller_id "
        f"WHERE v.variant_id IN ({int_list(ids)})")
    return {row[0]: Variant(*row) for row in cur.fetchall()}


def load_fx_rates(cur, tables: Tables) -> dict[str, Decimal]:
    """USD per unit of each currency."""
    cur.execute(f"SELECT currency, rate_usd FROM {tables.fx_rates}")
    return {currency: Decimal(rate) for currency, rate in cur.fetchall()}


def customer_countries(cur, tables: Tables, customer_ids: Sequence[int]) -> dict[int, str]:
    """The country code of each customer that exists among ``customer_ids``."""
    ids = sorted(set(customer_ids))
    cur.execute(f"SELECT customer_id, country_code FROM {tables.customers} "
                f"WHERE customer_id IN ({int_list(ids)})")
    return dict(cur.fetchall())
