"""Customers and their addresses."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from services.models.common import In, Out, UtcTime
from topproducts.countries import COUNTRIES

CountryCode = StrEnum("CountryCode", {c.code: c.code for c in COUNTRIES})  # type: ignore[misc]


def _clean(v: str) -> str:
    """Trimmed text without control characters or lone surrogates (MySQL cannot store them)."""
    v = v.strip()
    if not v:
        raise ValueError("must not be blank")
    for ch in v:
        if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            raise ValueError("contains a control or invalid character")
    return v


Text20 = Annotated[str, Field(min_length=1, max_length=20), AfterValidator(_clean)]
Text40 = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(_clean)]
Text100 = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_clean)]
Text255 = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_clean)]


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(v: str) -> str:
    if not _EMAIL.match(v):
        raise ValueError("is not an email address")
    return v.lower()


Email = Annotated[Text255, AfterValidator(_email)]


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
    country: CountryCode = Field(description="One of the shop's countries.", examples=["IN"])


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
