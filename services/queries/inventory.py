"""Products, variants and stock (``inventory_management``)."""

from __future__ import annotations

from typing import Any

from services.queries._sql import one, rows
from topproducts.db import Connection
from topproducts.settings import Settings
from topproducts.shop.schema import Tables


def _variant_sql(t: Tables, where: str) -> str:
    return (f"SELECT v.variant_id, v.product_id, p.name AS product_name, v.sku, "
            f"m.name AS material, v.seller_id, s.name AS seller_name, v.price_usd, v.tax_rate, "
            f"v.discount_rate, v.stock, v.updated_at FROM {t.variants} v "
            f"JOIN {t.products} p ON p.product_id = v.product_id "
            f"JOIN {t.materials} m ON m.material_id = v.material_id "
            f"JOIN {t.sellers} s ON s.seller_id = v.seller_id WHERE {where} "
            f"ORDER BY v.variant_id")


def list_products(conn: Connection, s: Settings, category: str | None, limit: int,
                  offset: int) -> list[dict[str, Any]]:
    t = Tables.of(s)
    where, params = ("WHERE c.name = %s", [category]) if category else ("", [])
    return rows(conn, (
        f"SELECT p.product_id, p.name, c.name AS category, COUNT(v.variant_id) AS variants, "
        f"COALESCE(MIN(v.price_usd), 0) AS min_price_usd, COALESCE(SUM(v.stock), 0) AS stock "
        f"FROM {t.products} p JOIN {t.categories} c ON c.category_id = p.category_id "
        f"LEFT JOIN {t.variants} v ON v.product_id = p.product_id {where} "
        f"GROUP BY p.product_id, p.name, c.name ORDER BY p.product_id LIMIT %s OFFSET %s"),
        [*params, limit, offset])


def get_product(conn: Connection, s: Settings, product_id: int) -> dict[str, Any] | None:
    t = Tables.of(s)
    p = one(conn, f"SELECT p.product_id, p.name, c.name AS category, p.description, "
                  f"p.created_at FROM {t.products} p "
                  f"JOIN {t.categories} c ON c.category_id = p.category_id "
                  f"WHERE p.product_id = %s", (product_id,))
    if p is None:
        return None
    p["variants"] = rows(conn, _variant_sql(t, "v.product_id = %s"), (product_id,))
    return p


def get_variant(conn: Connection, s: Settings, variant_id: int) -> dict[str, Any] | None:
    return one(conn, _variant_sql(Tables.of(s), "v.variant_id = %s"), (variant_id,))


def categories(conn: Connection, s: Settings) -> list[str]:
    return [r["name"] for r in rows(conn, f"SELECT name FROM {Tables.of(s).categories} "
                                          "ORDER BY name")]
