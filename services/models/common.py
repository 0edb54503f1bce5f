"""Shared model pieces: money as decimal strings, UTC times, pages, the error body."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from topproducts.money import money_str


def _utc(v: datetime) -> datetime:
    """MySQL hands back naive UTC; make every time explicit UTC."""
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _iso(v: datetime) -> str:
    return v.astimezone(UTC).isoformat().replace("+00:00", "Z")


Money = Annotated[
    Decimal,
    PlainSerializer(money_str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1299.00"]}),
]
"""An amount, on the wire a decimal string with two places (never a float)."""

Rate = Annotated[
    Decimal,
    PlainSerializer(lambda v: format(v, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d+$", "examples": ["0.012000"]}),
]
"""A rate (FX, tax, discount), a decimal string with up to 6 places."""

UtcTime = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "examples": ["2026-11-25T08:00:00.123456Z"]}),
]


class Out(BaseModel):
    """Base of response models."""

    model_config = ConfigDict(from_attributes=True)


MAX_ID = 2**53 - 1
"""The largest id the API takes: the largest integer every JSON reader holds exactly
(RFC 7493, I-JSON; JavaScript's ``Number.MAX_SAFE_INTEGER``). MySQL's ids never get there."""


def _json_integer(v: object) -> object:
    """A JSON number (``5`` or ``5.0``, which JSON Schema also calls an integer); never a
    boolean or a string."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not {kind}",
                                  {"kind": _JSON_KINDS.get(type(v), type(v).__name__)})
    return v


_JSON_KINDS = {bool: "a boolean", str: "a string", type(None): "null", list: "an array",
               dict: "an object"}


Integer = Annotated[int, BeforeValidator(_json_integer), Field(strict=False)]
"""An integer field of a request: ``5`` and ``5.0``, not ``true`` or ``"5"``."""


class In(BaseModel):
    """Base of request models: unknown fields are an error, not silently dropped, and
    values are taken as the schema types them, never coerced (strict mode): `false` or
    `"5"` is not a number. Integers are :data:`Integer` (JSON Schema's integer, `5.0`
    included), enums opt out (``Field(strict=False)``): their JSON string is their value."""

    model_config = ConfigDict(extra="forbid", strict=True)


T = TypeVar("T")


class Page(Out, Generic[T]):
    """One page of a list. Ask for the next page with ``offset=next_offset``."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"], description="Stable, machine-readable code.")
    message: str = Field(examples=["order 42 does not exist"], description="One line for people.")
    field: str | None = Field(None, examples=["lines[0].quantity"],
                              description="The offending input field, if one is to blame.")


class ErrorResponse(BaseModel):
    """Every error has this body."""

    error: ErrorDetail
