"""The five countries the shop sells in, with currency and Faker locale."""

from __future__ import annotations

from dataclasses import dataclass

from topproducts.errors import ConfigError


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    name: str
    currency: str  # ISO 4217
    locale: str  # Faker locale


COUNTRIES: tuple[Country, ...] = (
    Country("IN", "India", "INR", "en_IN"),
    Country("US", "United States", "USD", "en_US"),
    Country("GB", "United Kingdom", "GBP", "en_GB"),
    Country("CA", "Canada", "CAD", "en_CA"),
    Country("AU", "Australia", "AUD", "en_AU"),
)
BY_CODE = {c.code: c for c in COUNTRIES}
CURRENCIES = frozenset(c.currency for c in COUNTRIES)
GLOBAL_SCOPE = "GLOBAL"  # the leaderboard scope that sums all countries
SCOPES: tuple[str, ...] = (GLOBAL_SCOPE, *(c.code for c in COUNTRIES))  # every board's scope


def country(code_or_name: str) -> Country:
    """Look a country up by code (``IN``) or name (``India``), case-insensitively."""
    key = code_or_name.strip().upper()
    for c in COUNTRIES:
        if key in (c.code, c.name.upper()):
            return c
    known = ", ".join(f"{c.code} ({c.name})" for c in COUNTRIES)
    raise ConfigError(f"unknown country {code_or_name!r}; known: {known}")
