"""The Spark parse schema and validation rules, derived from the pydantic event models.

The models in :mod:`topproducts.events` are the one written schema. This module
walks their fields into a tree of :class:`Node` and turns it into

- a Spark ``StructType`` whose scalar leaves are all strings (so a wrong JSON type
  never loses the value; it is cast later, with validation), and
- a list of :class:`Rule` (Spark column predicates with a specific reason), from the
  fields' types and constraints (required, ``ge``/``gt``, ``min_length``,
  ``max_digits``/``decimal_places``, ``Literal``/``Enum`` choices).

The two custom validators in the models (known currency, known country) cannot be
introspected; :data:`KNOWN_VALUES` states them here, and a unit test checks the
models still reject what this module rejects.
"""

from __future__ import annotations

import enum
import types
import typing
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel

from topproducts.countries import BY_CODE, CURRENCIES
from topproducts.events import PAYLOADS, TOPIC_OF, Envelope, EventType, Topic

# Values enforced by custom field validators, by field name.
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "currency": tuple(sorted(CURRENCIES)),
    "country": tuple(sorted(BY_CODE)),
}

INT_RE = r"^\s*[+-]?[0-9]{1,18}\s*$"
DECIMAL_RE = r"^\s*[+-]?[0-9]+(\.[0-9]+)?\s*$"
UUID_RE = r"^\s*[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\s*$"
# ISO-8601 date-time with an explicit zone (pydantic's AwareDatetime).
AWARE_RE = r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s*(Z|z|[+-]\d{2}:?\d{2})\s*$"


@dataclass(frozen=True)
class Node:
    """One model field: its kind, whether it is required, and its constraints."""

    name: str
    kind: str  # int | str | decimal | datetime | uuid | choice | struct | array
    required: bool = True
    ge: Decimal | None = None
    gt: Decimal | None = None
    min_length: int | None = None
    max_digits: int | None = None
    decimal_places: int | None = None
    choices: tuple[str, ...] | None = None
    children: tuple[Node, ...] = ()  # struct fields, or the fields of an array's elements
    quoted: bool = True  # a choice serialized as a JSON string (False: a bare literal, ``1``)
    nullable: bool = False  # ``X | None``: JSON null is a valid value


def model_nodes(model: type[BaseModel]) -> tuple[Node, ...]:
    """The fields of a pydantic model as nodes, in declaration order."""
    return tuple(_field_node(name, f) for name, f in model.model_fields.items())


def _field_node(name: str, field) -> Node:
    annotation = field.annotation
    required = field.is_required()
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"{name}: unions other than Optional are not supported")
        annotation, required = args[0], False
        origin = typing.get_origin(annotation)
    constraints: dict[str, object] = {"nullable": annotation is not field.annotation}
    for meta in field.metadata:
        for key in ("ge", "gt", "min_length", "max_digits", "decimal_places"):
            value = getattr(meta, key, None)
            if value is not None:
                constraints[key] = value
    for key in ("ge", "gt"):
        if key in constraints:
            constraints[key] = Decimal(str(constraints[key]))
    if name in KNOWN_VALUES:
        constraints["choices"] = KNOWN_VALUES[name]

    if origin is typing.Literal:
        kind = "choice"
        constraints["choices"] = tuple(str(a) for a in typing.get_args(annotation))
        constraints["quoted"] = all(isinstance(a, str) for a in typing.get_args(annotation))
    elif origin is list:
        (element,) = typing.get_args(annotation)
        if not (isinstance(element, type) and issubclass(element, BaseModel)):
            raise TypeError(f"{name}: only lists of models are supported")
        return Node(name, "array", required, children=model_nodes(element),
                    min_length=constraints.get("min_length"))  # type: ignore[arg-type]
    elif origin is dict:
        return Node(name, "struct", required)  # open payload: filled in by the caller
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Node(name, "struct", required, children=model_nodes(annotation))
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        kind = "choice"
        constraints["choices"] = tuple(str(m.value) for m in annotation)
    elif isinstance(annotation, type) and issubclass(annotation, bool):
        raise TypeError(f"{name}: bool fields are not supported")
    elif isinstance(annotation, type) and issubclass(annotation, int):
        kind = "int"
    elif isinstance(annotation, type) and issubclass(annotation, Decimal):
        kind = "decimal"
    elif annotation is AwareDatetime:
        kind = "datetime"
    elif isinstance(annotation, type) and issubclass(annotation, datetime):
        raise TypeError(f"{name}: use AwareDatetime (naive date-times are ambiguous)")
    elif isinstance(annotation, type) and issubclass(annotation, uuid.UUID):
        kind = "uuid"
    elif annotation is str:
        kind = "choice" if "choices" in constraints else "str"
    else:
        raise TypeError(f"{name}: unsupported annotation {annotation!r}")
    return Node(name, kind, required, **constraints)  # type: ignore[arg-type]


def merge_nodes(groups: Sequence[tuple[Node, ...]]) -> tuple[Node, ...]:
    """The union of several models' fields (for one Spark struct); first declaration wins."""
    seen: dict[str, Node] = {}
    for nodes in groups:
        for n in nodes:
            if n.name in seen and _shape(seen[n.name]) != _shape(n):
                raise TypeError(f"field {n.name} has different shapes across models")
            seen.setdefault(n.name, n)
    return tuple(seen.values())


def _shape(n: Node) -> object:
    if n.kind == "struct":
        return ("struct", tuple((c.name, _shape(c)) for c in n.children))
    if n.kind == "array":
        return ("array", tuple((c.name, _shape(c)) for c in n.children))
    return "scalar"


@dataclass(frozen=True)
class TopicSchema:
    """What the stream knows about one topic: envelope nodes and payload nodes per type."""

    topic: Topic
    envelope: tuple[Node, ...]  # payload replaced by the merged payload struct
    payloads: dict[str, tuple[Node, ...]]  # event_type -> payload fields

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self.payloads)


def topic_schema(topic: Topic = Topic.ORDERS) -> TopicSchema:
    payloads = {t.value: model_nodes(PAYLOADS[t]) for t in EventType if TOPIC_OF[t] is topic}
    merged = merge_nodes(list(payloads.values()))
    envelope = tuple(
        Node(n.name, "struct", n.required, children=merged) if n.name == "payload" else n
        for n in model_nodes(Envelope)
    )
    return TopicSchema(topic, envelope, payloads)


def spark_type(nodes: Sequence[Node]):
    """A Spark ``StructType`` for ``nodes``; every scalar leaf is a string."""
    from pyspark.sql import types as T

    def field(n: Node) -> T.StructField:
        if n.kind == "struct":
            return T.StructField(n.name, spark_type(n.children))
        if n.kind == "array":
            return T.StructField(n.name, T.ArrayType(spark_type(n.children)))
        return T.StructField(n.name, T.StringType())

    return T.StructType([field(n) for n in nodes])


# -- validation rules ---------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """``violated(column)`` is true when the value breaks the rule; ``reason`` says how."""

    path: str
    reason: str
    violated: Callable  # Column -> Column
    with_value: bool = False  # append the offending value to the reason


def leaf_rules(n: Node, path: str) -> list[Rule]:
    """Rules for one field, given its column; nulls are only checked by the 'missing' rule."""
    from pyspark.sql import functions as F

    rules: list[Rule] = []
    if n.required:
        what = {"struct": "missing or not an object", "array": "missing or not an array"}
        rules.append(Rule(path, f"{path}: {what.get(n.kind, 'missing')}", lambda c: c.isNull()))
    if n.kind == "array" and n.min_length:
        rules.append(Rule(path, f"{path}: needs at least {n.min_length} element(s)",
                          lambda c, m=n.min_length: F.size(c) < m))
    if n.kind == "int":
        rules.append(Rule(path, f"{path}: not an integer", lambda c: ~c.rlike(INT_RE)))
    if n.kind == "decimal":
        rules.append(Rule(path, f"{path}: not a decimal number", lambda c: ~c.rlike(DECIMAL_RE)))
        if n.max_digits is not None and n.decimal_places is not None:
            whole = n.max_digits - n.decimal_places
            pattern = (rf"^\s*[+-]?0*[0-9]{{1,{whole}}}(\.[0-9]{{0,{n.decimal_places}}}0*)?\s*$")
            rules.append(Rule(
                path, f"{path}: more than {whole} digits before or {n.decimal_places} after "
                "the decimal point", lambda c, p=pattern: ~c.rlike(p)))
    if n.kind in ("int", "decimal"):
        cast = "bigint" if n.kind == "int" else "decimal(38,18)"
        if n.ge is not None:
            rules.append(Rule(path, f"{path}: must be >= {n.ge}",
                              lambda c, t=cast, v=n.ge: c.try_cast(t) < F.lit(v)))
        if n.gt is not None:
            rules.append(Rule(path, f"{path}: must be > {n.gt}",
                              lambda c, t=cast, v=n.gt: c.try_cast(t) <= F.lit(v)))
    if n.kind == "str" and n.min_length:
        rules.append(Rule(path, f"{path}: shorter than {n.min_length} character(s)",
                          lambda c, m=n.min_length: F.length(c) < m))
    if n.kind == "datetime":
        rules.append(Rule(path, f"{path}: not an ISO-8601 date-time with a time zone",
                          # null is the 'missing' rule's business (an optional field may be
                          # null), so only a present value can break this rule
                          lambda c: c.isNotNull() & (~c.rlike(AWARE_RE)
                                                     | c.try_cast("timestamp").isNull())))
    if n.kind == "uuid":
        rules.append(Rule(path, f"{path}: not a UUID", lambda c: ~c.rlike(UUID_RE)))
    if n.kind == "choice":
        rules.append(Rule(path, f"{path}: unexpected value ",
                          lambda c, v=n.choices: ~c.isin(*v), with_value=True))
    return rules


# -- the producer's canonical form (the stream's fast path) -------------------
#
# Every producer of the project serializes with ``Envelope.model_dump_json``: fields in
# declaration order, no spaces, UUIDs in lower case, date-times in UTC with ``Z``,
# decimals as strings. A message in exactly that form, whose values also satisfy the
# rules, matches :func:`canonical_pattern`; the stream accepts it with one regular
# expression instead of evaluating every rule. Anything else (another serializer, a
# bad value) takes the full validation, which finds the specific reason. The pattern
# only ever accepts what the rules accept (a unit test checks it against pydantic).

# JSON strings as an unrolled loop (no alternation per character: Java's regex engine
# is several times faster on it)
_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_NONEMPTY_STRING = r'"(?!")[^"\\]*+(?:\\.[^"\\]*+)*+"'
_UUID = r'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"'
# the date is checked again by a cast (a pattern cannot know that February has 28 days)
_DATETIME = r'"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z"'


class NoCanonicalForm(TypeError):
    """A field whose constraints the canonical pattern does not express."""


def _int_pattern(n: Node) -> str:
    if n.gt is not None or (n.ge is not None and n.ge not in (0, 1)):
        raise NoCanonicalForm(f"{n.name}: only ge=0 or ge=1 integers have a canonical form")
    if n.ge == 1:
        return "[1-9][0-9]{0,17}"
    return "(?:0|[1-9][0-9]{0,17})" if n.ge == 0 else "-?(?:0|[1-9][0-9]{0,17})"


def _decimal_pattern(n: Node) -> str:
    if n.max_digits is None or n.decimal_places is None:
        raise NoCanonicalForm(f"{n.name}: decimals need max_digits and decimal_places")
    whole, places = n.max_digits - n.decimal_places, n.decimal_places
    fraction = f"(?:\\.[0-9]{{1,{places}}})?" if places else ""
    positive = f"[1-9][0-9]{{0,{whole - 1}}}{fraction}"
    if n.gt == 0:  # strictly positive: no zero value, however written
        small = f"|0\\.(?=[0-9]*[1-9])[0-9]{{1,{places}}}" if places else ""
        return f'"(?:{positive}{small})"'
    if n.gt is not None or (n.ge is not None and n.ge != 0):
        raise NoCanonicalForm(f"{n.name}: only ge=0 or gt=0 decimals have a canonical form")
    zero = f"0{fraction}"
    sign = "" if n.ge == 0 else "-?"
    return f'"{sign}(?:{positive}|{zero})"'


def _value_pattern(n: Node) -> str:
    if n.kind == "struct":
        return _object_pattern(n.children)
    if n.kind == "array":
        element = _object_pattern(n.children)
        first = f"{element}(?:,{element})*+"
        return f"\\[{first}\\]" if n.min_length else f"\\[(?:{first})?\\]"
    if n.kind == "int":
        return _int_pattern(n)
    if n.kind == "decimal":
        return _decimal_pattern(n)
    if n.kind == "datetime":
        return _DATETIME
    if n.kind == "uuid":
        return _UUID
    if n.kind == "choice":
        choices = n.choices or ()
        if not all(c.replace("_", "").isalnum() for c in choices):
            raise NoCanonicalForm(f"{n.name}: choices must be plain words")
        alternatives = "|".join(choices)
        return f'"(?:{alternatives})"' if n.quoted else f"(?:{alternatives})"
    if n.kind == "str":
        return _NONEMPTY_STRING if n.min_length else _STRING
    raise NoCanonicalForm(f"{n.name}: kind {n.kind}")


def _field_pattern(n: Node) -> str:
    value = _value_pattern(n)
    return f'"{n.name}":' + (f"(?:null|{value})" if n.nullable else value)


def _object_pattern(nodes: Sequence[Node]) -> str:
    return "\\{" + ",".join(_field_pattern(n) for n in nodes) + "\\}"


def canonical_pattern(ts: TopicSchema) -> str:
    """A Java regular expression matching exactly the canonical, valid messages of a topic."""
    branches = []
    for event_type, payload in ts.payloads.items():
        fields = []
        for n in model_nodes(Envelope):
            if n.name == "event_type":
                fields.append(f'"event_type":"{event_type}"')
            elif n.name == "payload":
                fields.append('"payload":' + _object_pattern(payload))
            else:
                fields.append(_field_pattern(n))
        branches.append("\\{" + ",".join(fields) + "\\}")
    return "^(?:" + "|".join(branches) + ")$"


def datetime_paths(nodes: Sequence[Node], prefix: tuple[str, ...] = ()
                   ) -> list[tuple[tuple[str, ...], bool]]:
    """(path, required) of every date-time leaf outside arrays (the fast path casts them)."""
    found = []
    for n in nodes:
        if n.kind == "datetime":
            found.append(((*prefix, n.name), n.required))
        elif n.kind == "struct":
            found += datetime_paths(n.children, (*prefix, n.name))
        elif n.kind == "array" and datetime_paths(n.children):
            raise NoCanonicalForm(f"{n.name}: date-times inside arrays")
    return found
