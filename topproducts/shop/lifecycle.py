"""The life of an order: its statuses, cancel reasons, payment modes and limits.

::

    placed --payment ok--> confirmed --shipment steps--> delivered
       |                       |
       +--payment failed--> cancelled (confirmed_at None: nothing to retract)
                               +--cancel (or return, once delivered)--> cancelled
                                                                        (confirmed_at set)

- prepaid: the payment is ``paid`` (order confirmed) or ``failed`` (order cancelled);
- pay on delivery: the payment is ``pending`` and the order is confirmed when
  accepted (``failed`` and cancelled when not); it becomes ``paid`` on delivery
  (:mod:`~topproducts.shop.shipments`) or when the customer pays earlier
  (:func:`topproducts.shop.payments.collect_payment`);
- a confirmed order gets a shipment (Processing -> Shipped -> In Transit ->
  Out for Delivery -> Delivered), one step per
  :func:`~topproducts.shop.shipments.advance_shipments`;
- a confirmed or delivered order can be cancelled at any time, minutes or days after its
  confirmation, as customers do (:mod:`~topproducts.shop.cancelling`): its shipment is
  stopped (Cancelled) or sent back (Returned), its stock is restored and
  ``order_cancelled`` carries ``confirmed_at`` so the leaderboards retract its items (from
  the windows that end after the cancellation: :mod:`topproducts.leaderboards.windowing`).
"""

from __future__ import annotations

from typing import Literal

PaymentMode = Literal["prepaid", "pay_on_delivery"]
PaymentStatus = Literal["pending", "paid", "failed"]
PAYMENT_MODES: tuple[str, ...] = ("prepaid", "pay_on_delivery")
MAX_LINES = 10
MAX_QUANTITY = 5

# Order statuses.
PLACED, CONFIRMED, CANCELLED, DELIVERED = "placed", "confirmed", "cancelled", "delivered"
# Cancel reasons.
PAYMENT_FAILED = "payment_failed"
POD_DECLINED = "pay_on_delivery_declined"
CUSTOMER_REQUEST = "customer_request"
