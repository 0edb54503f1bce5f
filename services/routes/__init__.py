"""One router per domain; :data:`ROUTERS` is what the app includes, in order."""

from services.routes import inventory, leaderboards, orders, page, payments, shipments, users

ROUTERS = (users.router, inventory.router, orders.router, payments.router, shipments.router,
           leaderboards.router, page.router)
