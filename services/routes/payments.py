"""Payments of the simulated gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from services.deps import MySQL, SettingsDep, WriteAccess
from services.errors import ApiError, not_found, responses
from services.models.common import MAX_ID
from services.models.orders import Events
from services.models.payments import Payment, PaymentReceipt
from services.publisher import publish_after_commit
from services.queries import payments as q
from topproducts.shop.payments import collect_payment

router = APIRouter(tags=["payments"])

PaymentId = Annotated[int, Path(ge=1, le=MAX_ID, description="Payment id.")]
OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="Order id.")]


@router.get("/payments/{payment_id}", summary="Read a payment", response_model=Payment,
            responses=responses(404))
def get_payment(payment_id: PaymentId, conn: MySQL, settings: SettingsDep) -> Payment:
    found = q.get_payment(conn, settings, payment_id)
    if found is None:
        raise not_found("payment", payment_id, "payment_id")
    return Payment.model_validate(found)


@router.get("/orders/{order_id}/payment", summary="Read an order's payment",
            response_model=Payment, responses=responses(404), tags=["orders"])
def payment_of_order(order_id: OrderId, conn: MySQL, settings: SettingsDep) -> Payment:
    found = q.payment_of_order(conn, settings, order_id)
    if found is None:
        raise not_found("order", order_id, "order_id")
    return Payment.model_validate(found)


@router.post("/payments/{payment_id}/pay", summary="Pay a pending pay-on-delivery payment",
             response_model=PaymentReceipt, dependencies=[WriteAccess],
             responses=responses(401, 404, 409))
def pay(payment_id: PaymentId, conn: MySQL, settings: SettingsDep,
        request: Request) -> PaymentReceipt:
    """The customer pays a pay-on-delivery order before delivery: `pending` becomes `paid`
    (with a `payment_recorded` event). 409 if the payment is not pending."""
    with conn.cursor() as cur:
        collected = collect_payment(cur, settings, payment_id)
    if collected.outcome == "missing":
        raise not_found("payment", payment_id, "payment_id")
    if collected.outcome == "not_pending":
        assert collected.payment is not None  # only a missing payment has no row
        raise ApiError(409, "not_pending",
                       f"payment {payment_id} is {collected.payment['status']}, not pending")
    conn.commit()
    published = publish_after_commit(request)
    return PaymentReceipt(payment=Payment.model_validate(q.get_payment(conn, settings,
                                                                       payment_id)),
                          events=Events(written=collected.events, published=published))
