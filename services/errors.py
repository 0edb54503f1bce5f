"""One error body for every failure: ``{"error": {"code", "message", "field"}}``.

Routes raise :class:`ApiError`; the handlers installed by :func:`install` turn
validation errors, unknown routes, domain errors (out of stock, unknown
customer) and unreachable services into the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from cassandra import OperationTimedOut, RequestExecutionException
from cassandra.cluster import NoHostAvailable
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.models.common import ErrorResponse
from topproducts import db
from topproducts.errors import StackError
from topproducts.shop.errors import OrderError, OutOfStock, UnknownCustomer, UnknownVariant

log = logging.getLogger(__name__)

_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid_input",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error a client can act on, with its HTTP status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def not_found(kind: str, ident: object, field: str | None = None) -> ApiError:
    return ApiError(404, "not_found", f"{kind} {ident} does not exist", field)


def body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def field_path(loc: Sequence[str | int]) -> str | None:
    """``("body", "lines", 0, "quantity")`` -> ``lines[0].quantity``; None for the whole body."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or None


def _json(status: int, code: str, message: str, field: str | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body(code, message, field), status_code=status, headers=headers)


def validation_message(error: dict[str, Any]) -> str:
    field = field_path(error.get("loc", ()))
    msg = str(error.get("msg", "invalid value"))
    if error.get("type") == "missing":
        return f"{field} is required" if field else "a request body is required"
    if error.get("type") == "json_invalid":
        return "the body is not valid JSON"
    return f"{field}: {msg}" if field else msg


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {}
    message = validation_message(first)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    return _json(422, "invalid_input", message, field_path(first.get("loc", ())))


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "ApiKey"} if exc.status == 401 else None
    return _json(exc.status, exc.code, exc.message, exc.field, headers)


# FastAPI's own 400 when a body cannot be read as JSON at all (bytes that are not UTF-8);
# a body that is text but not JSON is a RequestValidationError (json_invalid) instead.
_UNPARSABLE_BODY = "There was an error parsing the body"


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (routing stops at the first route
    whose path matches, so Starlette's own ``Allow`` names only that route's methods)."""
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        if getattr(route, "methods", None) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)


def _leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """The app's routes, with included routers flattened (this FastAPI keeps each included
    router as one nested route); a router's prefix is already in its routes' paths."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        else:
            yield route


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        return _json(422, "invalid_input", "the body is not valid JSON (UTF-8)")
    code = _REASONS.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint"
    allow = allowed_methods(request) if exc.status_code == 405 else []
    if allow:  # (none for the static files, which answer their own 405)
        headers = {**(headers or {}), "Allow": ", ".join(allow)}
        message = f"{request.method} is not allowed here; allowed: {', '.join(allow)}"
    return _json(exc.status_code, code, message, headers=headers)


async def _order_error(_: Request, exc: OrderError) -> JSONResponse:
    if isinstance(exc, OutOfStock):
        return _json(409, "out_of_stock", str(exc), "lines")
    if isinstance(exc, UnknownCustomer):
        return _json(422, "unknown_customer", str(exc), "customer_id")
    if isinstance(exc, UnknownVariant):
        return _json(422, "unknown_variant", str(exc), "lines")
    return _json(422, "invalid_order", str(exc))


async def _unavailable(_: Request, exc: StackError) -> JSONResponse:
    log.warning("service unavailable: %s", exc)
    return _json(503, "service_unavailable", str(exc))


_MISSING_SCHEMA = {1049, 1146}  # unknown database, unknown table


async def _mysql(_: Request, exc: db.Error) -> JSONResponse:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if code in _MISSING_SCHEMA:
        message = "the shop's databases are not set up: run `topproducts seed`"
    elif isinstance(exc, db.OperationalError):
        message = f"MySQL is busy or unreachable, retry ({code}: {exc.args[-1]})"
    else:
        return await _unexpected(_, exc)
    log.warning("mysql: %s", exc)
    return _json(503, "service_unavailable", message)


async def _cassandra(_: Request, exc: Exception) -> JSONResponse:
    log.warning("cassandra: %s", exc)
    return _json(503, "service_unavailable", f"Cassandra is busy or unreachable, retry "
                                             f"({type(exc).__name__})")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error")
    return _json(500, "internal_error", f"internal error ({type(exc).__name__})")


_E = TypeVar("_E", bound=Exception)


def _handle(app: FastAPI, cls: type[_E],
            handler: Callable[[Request, _E], Awaitable[JSONResponse]]) -> None:
    """``app.add_exception_handler``, checking that ``handler`` takes what ``cls`` raises."""
    # Starlette types every handler as taking any Exception; it calls one only with
    # instances of the class it was added for, which the signature above checks.
    app.add_exception_handler(cls, handler)  # type: ignore[arg-type]


def install(app: FastAPI) -> None:
    _handle(app, RequestValidationError, _validation)
    _handle(app, ApiError, _api_error)
    _handle(app, StarletteHTTPException, _http)
    _handle(app, OrderError, _order_error)
    _handle(app, StackError, _unavailable)
    app.add_exception_handler(db.Error, _mysql)
    for cls in (NoHostAvailable, OperationTimedOut, RequestExecutionException):
        app.add_exception_handler(cls, _cassandra)
    app.add_exception_handler(Exception, _unexpected)


_DESCRIPTIONS = {
    401: "Missing or wrong `X-API-Key`.",
    404: "Unknown id.",
    409: "Conflicts with the current state (e.g. out of stock, not cancellable).",
    422: "Invalid input (including a body that is not JSON); `field` names the offending "
         "field.",
    503: "A backing service (MySQL, Kafka, Cassandra) is unreachable.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error statuses, all with :class:`ErrorResponse`.

    422 and 503 are always included (every route validates input and uses a service).
    """
    wanted = sorted({*statuses, 422, 503})
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in wanted}
