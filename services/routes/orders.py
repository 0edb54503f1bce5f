"""Orders: place (the shop's own domain operation), read, history, cancel."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from services.deps import MySQL, PagingDep, SettingsDep, WriteAccess
from services.errors import ApiError, not_found, responses
from services.models.common import MAX_ID, Page
from services.models.orders import Events, Order, OrderHistory, OrderIn, OrderReceipt, OrderSummary
from services.publisher import publish_after_commit
from services.queries import orders as q
from topproducts import db
from topproducts.shop.cancelling import cancel_orders
from topproducts.shop.errors import OutOfStock, UnknownCustomer, UnknownVariant
from topproducts.shop.lifecycle import CUSTOMER_REQUEST
from topproducts.shop.model import LineRequest, OrderRequest
from topproducts.shop.placing import place_order as place

router = APIRouter(prefix="/orders", tags=["orders"])

OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="Order id.")]
Status = Literal["placed", "confirmed", "cancelled", "delivered"]


def _line_index(body: OrderIn, variant_id: int) -> int:
    return next((i for i, x in enumerate(body.lines) if x.variant_id == variant_id), 0)


@router.post("", summary="Place an order", status_code=201, response_model=OrderReceipt,
             dependencies=[WriteAccess], responses=responses(401, 409))
def place_order(body: OrderIn, conn: MySQL, settings: SettingsDep, request: Request,
                response: Response) -> OrderReceipt:
    """Runs the shop's own "place an order" (the simulator's code): stock is checked and
    taken under row locks, the payment is recorded, a confirmed order gets a shipment,
    and the events go to Kafka through the outbox. 409 when a line asks for more than
    is in stock; 422 for an unknown customer or variant."""
    request_ = OrderRequest(
        customer_id=body.customer_id,
        lines=tuple(LineRequest(x.variant_id, x.quantity) for x in body.lines),
        payment_mode=body.payment_mode,
        payment_method=body.payment_method,
        payment_ok=body.payment_outcome == "accepted",
    )
    try:
        placed = place(request_, settings)
    except OutOfStock as exc:
        raise ApiError(409, "out_of_stock", str(exc),
                       f"lines[{_line_index(body, exc.variant_id)}].quantity") from None
    except UnknownVariant as exc:
        raise ApiError(422, "unknown_variant", str(exc),
                       f"lines[{_line_index(body, exc.variant_id)}].variant_id") from None
    except UnknownCustomer as exc:
        raise ApiError(422, "unknown_customer", str(exc), "customer_id") from None
    published = publish_after_commit(request)
    response.headers["Location"] = f"/orders/{placed.order_id}"
    order = q.get_order(conn, settings, placed.order_id)
    return OrderReceipt(order=Order.model_validate(order),
                        events=Events(written=placed.events, published=published))


@router.get("", summary="List orders, newest first", response_model=Page[OrderSummary],
            responses=responses())
def list_orders(
    conn: MySQL, settings: SettingsDep, paging: PagingDep,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[Status | None, Query()] = None,
) -> Page[OrderSummary]:
    found = q.list_orders(conn, settings, customer_id, status, paging.limit + 1, paging.offset)
    items, next_offset = paging.page(found)
    return Page[OrderSummary](items=items, limit=paging.limit, offset=paging.offset,
                              next_offset=next_offset)


@router.get("/{order_id}", summary="Read an order with its lines, payment and shipment",
            response_model=Order, responses=responses(404))
def get_order(order_id: OrderId, conn: MySQL, settings: SettingsDep) -> Order:
    found = q.get_order(conn, settings, order_id)
    if found is None:
        raise not_found("order", order_id, "order_id")
    return Order.model_validate(found)


@router.get("/{order_id}/history", summary="An order's status history",
            response_model=OrderHistory, responses=responses(404))
def order_history(order_id: OrderId, conn: MySQL, settings: SettingsDep) -> OrderHistory:
    if not q.exists(conn, settings, order_id):
        raise not_found("order", order_id, "order_id")
    return OrderHistory.model_validate(
        {"order_id": order_id, "history": q.history(conn, settings, order_id)})


@router.post("/{order_id}/cancel", summary="Cancel (or return) a confirmed order",
             response_model=OrderReceipt, dependencies=[WriteAccess],
             responses=responses(401, 404, 409))
def cancel_order(order_id: OrderId, conn: MySQL, settings: SettingsDep,
                 request: Request) -> OrderReceipt:
    """A confirmed or delivered order can be cancelled, at any time after its confirmation:
    its shipment stops (or is returned, once delivered), its stock comes back and the
    leaderboards retract its items (`order_cancelled`): all-time, and in the windows that
    end after the cancellation (windows that ended before it keep them)."""
    with db.transaction(settings) as tx, tx.cursor() as cur:
        result = cancel_orders(cur, settings, [order_id], CUSTOMER_REQUEST)
    if not result.cancelled:
        found = q.get_order(conn, settings, order_id)
        if found is None:
            raise not_found("order", order_id, "order_id")
        shipment = found["shipment"]["status"] if found["shipment"] else "none"
        raise ApiError(409, "not_cancellable",
                       f"order {order_id} is {found['status']} (shipment: {shipment}); only a "
                       "confirmed or delivered order can be cancelled")
    published = publish_after_commit(request)
    return OrderReceipt(order=Order.model_validate(q.get_order(conn, settings, order_id)),
                        events=Events(written=result.events, published=published))
