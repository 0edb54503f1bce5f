"""Products, variants and stock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.deps import MySQL, PagingDep, SettingsDep, WriteAccess
from services.errors import not_found, responses
from services.models.common import MAX_ID, Page
from services.models.inventory import Categories, Product, ProductSummary, StockIn, Variant
from services.queries import inventory as q
from topproducts.shop import stock

router = APIRouter(tags=["inventory"])

ProductId = Annotated[int, Path(ge=1, le=MAX_ID, description="Product id.")]
VariantId = Annotated[int, Path(ge=1, le=MAX_ID, description="Variant id.")]


@router.get("/categories", summary="List product categories", response_model=Categories,
            responses=responses())
def list_categories(conn: MySQL, settings: SettingsDep) -> Categories:
    return Categories(categories=q.categories(conn, settings))


@router.get("/products", summary="List products", response_model=Page[ProductSummary],
            responses=responses())
def list_products(
    conn: MySQL, settings: SettingsDep, paging: PagingDep,
    category: Annotated[str | None, Query(max_length=64, description="Category name.")] = None,
) -> Page[ProductSummary]:
    found = q.list_products(conn, settings, category, paging.limit + 1, paging.offset)
    items, next_offset = paging.page(found)
    return Page[ProductSummary](items=items, limit=paging.limit, offset=paging.offset,
                                next_offset=next_offset)


@router.get("/products/{product_id}", summary="Read a product and its variants",
            response_model=Product, responses=responses(404))
def get_product(product_id: ProductId, conn: MySQL, settings: SettingsDep) -> Product:
    found = q.get_product(conn, settings, product_id)
    if found is None:
        raise not_found("product", product_id, "product_id")
    return Product.model_validate(found)


@router.get("/variants/{variant_id}", summary="Read a variant (price and stock)",
            response_model=Variant, responses=responses(404))
def get_variant(variant_id: VariantId, conn: MySQL, settings: SettingsDep) -> Variant:
    found = q.get_variant(conn, settings, variant_id)
    if found is None:
        raise not_found("variant", variant_id, "variant_id")
    return Variant.model_validate(found)


@router.put("/variants/{variant_id}/stock", summary="Set a variant's stock",
            response_model=Variant, dependencies=[WriteAccess], responses=responses(401, 404))
def set_stock(variant_id: VariantId, body: StockIn, conn: MySQL,
              settings: SettingsDep) -> Variant:
    with conn.cursor() as cur:
        found = stock.set_stock(cur, settings, variant_id, body.stock)
    if not found:
        raise not_found("variant", variant_id, "variant_id")
    conn.commit()
    return Variant.model_validate(q.get_variant(conn, settings, variant_id))
