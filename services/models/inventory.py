"""Products, their sellable variants (product x material x seller) and stock."""

from __future__ import annotations

from pydantic import Field

from services.models.common import In, Integer, Money, Out, Rate, UtcTime


class Variant(Out):
    variant_id: int
    product_id: int
    product_name: str
    sku: str
    material: str
    seller_id: int
    seller_name: str
    price_usd: Money = Field(description="List price in USD; orders convert at the FX rate.")
    tax_rate: Rate
    discount_rate: Rate
    stock: int
    updated_at: UtcTime


class ProductSummary(Out):
    product_id: int
    name: str
    category: str
    variants: int
    min_price_usd: Money
    stock: int = Field(description="Units in stock over all variants.")


class Product(Out):
    product_id: int
    name: str
    category: str
    description: str
    created_at: UtcTime
    variants: list[Variant]


class Categories(Out):
    categories: list[str]


class StockIn(In):
    stock: Integer = Field(ge=0, le=10_000_000, description="New absolute stock level.",
                       examples=[500])
