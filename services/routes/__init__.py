"""One router per domain; :data:`ROUTERS` is what the app includes, in order."""

from services.routes import (
    daily,
    inventory,
    leaderboards,
    orders,
    page,
    payments,
    shipments,
    users,
)

# Leaderboards first: the most-read routes match on the first router tried (routing walks
# the routers in order; the OpenAPI groups by the app's tag order anyway).
ROUTERS = (leaderboards.router, daily.router, users.router, inventory.router, orders.router,
           payments.router, shipments.router, page.router)
