"""Fixed reference data of the shop: FX rates, catalogue vocabulary, carriers, payment methods.

Stated in code so seeding is deterministic and reviewable.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

from topproducts.countries import COUNTRIES

# USD per one unit of each currency (mid-market, rounded to 6 places). Fixed on
# purpose: a reproducible demo must price the same order the same way every run.
FX_RATES_USD: MappingProxyType[str, Decimal] = MappingProxyType(
    {
        "USD": Decimal("1.000000"),
        "INR": Decimal("0.012000"),
        "GBP": Decimal("1.270000"),
        "CAD": Decimal("0.740000"),
        "AUD": Decimal("0.660000"),
    }
)
assert set(FX_RATES_USD) == {c.currency for c in COUNTRIES}, "an FX rate per shop currency"

# (category, tax rate, USD price range, product nouns)
CATEGORIES: tuple[tuple[str, Decimal, tuple[int, int], tuple[str, ...]], ...] = (
    ("Furniture", Decimal("0.080000"), (40, 900), ("Chair", "Table", "Desk", "Shelf", "Bench")),
    ("Kitchen", Decimal("0.080000"), (5, 250), ("Pan", "Knife", "Kettle", "Bowl", "Mug")),
    ("Clothing", Decimal("0.050000"), (8, 200), ("Shirt", "Jacket", "Scarf", "Hat", "Socks")),
    ("Footwear", Decimal("0.050000"), (20, 250), ("Shoes", "Boots", "Sandals", "Sneakers")),
    ("Electronics", Decimal("0.180000"), (15, 1500), ("Headphones", "Speaker", "Lamp", "Charger")),
    ("Sports", Decimal("0.120000"), (10, 400), ("Ball", "Racket", "Mat", "Bottle", "Gloves")),
    ("Toys", Decimal("0.120000"), (5, 120), ("Puzzle", "Robot", "Kite", "Blocks", "Car")),
    ("Garden", Decimal("0.100000"), (5, 300), ("Pot", "Hose", "Shovel", "Planter", "Hammock")),
    ("Books", Decimal("0.000000"), (5, 60), ("Notebook", "Journal", "Planner", "Sketchbook")),
    ("Beauty", Decimal("0.180000"), (4, 120), ("Soap", "Brush", "Mirror", "Comb", "Candle")),
)
ADJECTIVES: tuple[str, ...] = (
    "Ergonomic", "Rustic", "Sleek", "Handmade", "Practical", "Elegant", "Compact", "Durable",
    "Vintage", "Modern", "Classic", "Lightweight", "Premium", "Refined", "Smart", "Cozy",
)
# (material, price multiplier)
MATERIALS: tuple[tuple[str, Decimal], ...] = (
    ("Cotton", Decimal("1.00")),
    ("Wool", Decimal("1.30")),
    ("Leather", Decimal("1.80")),
    ("Steel", Decimal("1.20")),
    ("Wood", Decimal("1.10")),
    ("Bamboo", Decimal("0.90")),
    ("Plastic", Decimal("0.70")),
    ("Glass", Decimal("1.15")),
    ("Granite", Decimal("1.60")),
    ("Rubber", Decimal("0.80")),
)
DISCOUNT_RATES: tuple[Decimal, ...] = tuple(
    Decimal(x) for x in ("0.000000", "0.000000", "0.050000", "0.100000", "0.150000", "0.200000")
)
SELLERS = 25  # a fixed number of sellers, so product k's sellers do not depend on scale
MAX_VARIANTS_PER_PRODUCT = 6  # variant_id = product_id * 10 + index (index < 10)

CARRIERS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "IN": ("Delhivery", "Blue Dart", "India Post"),
        "US": ("UPS", "FedEx", "USPS"),
        "GB": ("Royal Mail", "DPD", "Evri"),
        "CA": ("Canada Post", "Purolator"),
        "AU": ("Australia Post", "StarTrack"),
    }
)
# Shipment statuses in order; every open shipment moves one step at a time.
SHIPMENT_FLOW: tuple[str, ...] = ("Processing", "Shipped", "In Transit", "Out for Delivery",
                                  "Delivered")
SHIPMENT_CANCELLED = "Cancelled"  # an order cancelled before its delivery
SHIPMENT_RETURNED = "Returned"  # a delivered order cancelled (sent back)

PREPAID_METHODS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "IN": ("upi", "card", "net_banking", "wallet"),
        "US": ("card", "paypal", "apple_pay"),
        "GB": ("card", "paypal", "apple_pay"),
        "CA": ("card", "paypal", "interac"),
        "AU": ("card", "paypal", "afterpay"),
    }
)
POD_METHODS: tuple[str, ...] = ("cash", "card_on_delivery")
