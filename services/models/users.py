"""Customers and their addresses."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from services.models.common import In, Out, UtcTime
from services.patterns import EMAIL, TEXT
from topproducts.countries import COUNTRIES

CountryCode = StrEnum("CountryCode", {c.code: c.code for c in COUNTRIES})  # type: ignore[misc]


def _clean(v: str) -> str:
    """Trimmed text without control characters or lone surrogates (MySQL cannot store
    them): what :data:`services.patterns.TEXT`, the schema's pattern, allows (a lone
    surrogate is no Unicode text, so the pattern need not name it)."""
    v = v.strip()
    if not v:
        raise ValueError("must not be blank")
    for ch in v:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError(f"contains a control character or lone surrogate "
                             f"(U+{ord(ch):04X})")
    return v


def _text(max_length: int) -> Any:
    """Lengths as the check counts them (before trimming), and the check as a pattern."""
    return Field(min_length=1, max_length=max_length, json_schema_extra={"pattern": TEXT})


Text20 = Annotated[str, _text(20), AfterValidator(_clean)]
Text40 = Annotated[str, _text(40), AfterValidator(_clean)]
Text100 = Annotated[str, _text(100), AfterValidator(_clean)]
Text255 = Annotated[str, _text(255), AfterValidator(_clean)]


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(v: str) -> str:
    if not _EMAIL.match(v):
        raise ValueError("is not an email address")
    return v.lower()


Email = Annotated[Text255, AfterValidator(_email), Field(json_schema_extra={"pattern": EMAIL})]


class Address(Out):
    street: str
    city: str
    state: str
    postal_code: str
    country: str = Field(description="ISO 3166-1 alpha-2 code", examples=["IN"])


class AddressIn(In):
    street: Text255 = Field(examples=["12 MG Road"])
    city: Text100 = Field(examples=["Bengaluru"])
    state: Text100 = Field(examples=["Karnataka"])
    postal_code: Text20 = Field(examples=["560001"])
    country: CountryCode = Field(description="One of the shop's countries.", examples=["IN"],
                                 strict=False)  # the JSON string is the value


class CustomerIn(In):
    first_name: Text100 = Field(examples=["Asha"])
    last_name: Text100 = Field(examples=["Rao"])
    email: Email = Field(examples=["asha.rao@example.com"])
    phone: Text40 = Field(examples=["+91 80 1234 5678"])
    address: AddressIn


class Customer(Out):
    customer_id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    address: Address
    currency: str = Field(description="Orders of this customer are priced in this currency.")
    created_at: UtcTime
