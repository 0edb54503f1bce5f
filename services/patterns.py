"""The accepted forms of free-text fields, days and windows, as regular expressions.

Each is used twice: as the ``pattern`` of the OpenAPI schema, so that what the schema
allows is what the API accepts (and the reverse), and by the validation of the input
itself (:func:`services.models.users._clean`, :func:`services.routes.daily.day_of`,
:func:`services.routes.leaderboards.resolve_window`), which says in words what was
wrong. They are written so that ECMA-262 (JSON Schema), Python and Hypothesis read them
the same: no ``\\s``, ``\\d`` or flags, ranges spelled out.
"""

from __future__ import annotations

import re

# What ``str.strip()`` removes (every character for which ``str.isspace()`` is true).
_SPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# What a person cannot read: control characters (Unicode Cc). The text checks also refuse
# lone surrogates (Cs; MySQL cannot store them), which the patterns need not name: a
# pattern reads Unicode scalar values, and a string with a lone surrogate is none (regex
# engines such as Rust's, which schemathesis uses, refuse a surrogate in a pattern).
_CONTROL = r"\x00-\x1f\x7f-\x9f"
# A character inside a text: anything but a control character.
_INNER = f"[^{_CONTROL}]"
# A character that can start or end a text: neither that nor a space.
_EDGE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

TEXT = f"^[{_SPACE}]*{_EDGE}(?:{_INNER}*{_EDGE})?[{_SPACE}]*$"
"""Free text: not blank, no control characters; spaces around it are trimmed."""

_EMAIL_CHAR = _EDGE[:-1] + "@]"
EMAIL = f"^[{_SPACE}]*{_EMAIL_CHAR}+@{_EMAIL_CHAR}+[.]{_EMAIL_CHAR}+[{_SPACE}]*$"
"""``name@domain.tld`` (trimmed, as :data:`TEXT`)."""

_DIGIT = "[0-9]"
_YEAR = f"[12]{_DIGIT}{{3}}"  # 1000-2999: every such start or day is a valid UTC time
_LEAP_YEAR = f"(?:[12]{_DIGIT}(?:0[48]|[2468][048]|[13579][26])|(?:1[26]|2[048])00)"
_MONTH_DAY = ("(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
              "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              "|02-(?:0[1-9]|1[0-9]|2[0-8]))")
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"

DAY = f"^{_DATE}$"
"""A calendar day ``YYYY-MM-DD`` (years 1000-2999)."""

_TIME = f"(?:[01]{_DIGIT}|2[0-3]):[0-5]{_DIGIT}(?::[0-5]{_DIGIT}(?:[.]{_DIGIT}+)?)?"
_OFFSET = f"(?:Z|[+-](?:[01]{_DIGIT}|2[0-3]):[0-5]{_DIGIT})"
WINDOW = (f"^(?:[Aa][Ll][Ll]|[Cc][Uu][Rr][Rr][Ee][Nn][Tt]"
          f"|{_DATE}T{_TIME}{_OFFSET}?)$")
"""``all``, ``current`` (in any letter case), or a start ``YYYY-MM-DDTHH:MM[:SS[.f]]``
with ``Z`` or an offset ``+HH:MM`` (none means UTC)."""

TEXT_RE = re.compile(TEXT)
EMAIL_RE = re.compile(EMAIL)
DAY_RE = re.compile(DAY)
WINDOW_RE = re.compile(WINDOW)
