"""Phone numbers as campaigns store them: E.164 (``+`` and 8 to 15 digits), whatever way a list wrote them.

Light rules, not a numbering plan per country: separators (spaces, dots, dashes, parentheses, a ``(0)`` trunk
prefix) go, ``00`` becomes ``+``, a number without a country code takes the campaign's
``default_country_code``, and North American (+1) numbers must have ten digits whose area code and exchange
start with 2-9. Plivo validates the rest when it dials (a refused number ends as ``failed``). A full numbering
plan (libphonenumber) would catch more at upload; it is one more dependency to ship and keep current, and
Plivo's own answer is authoritative anyway.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s.\-()/]")
_TRUNK_ZERO = re.compile(r"\(0\)")
_NANP = re.compile(r"^\+1[2-9]\d{2}[2-9]\d{6}$")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
COUNTRY_CODE = re.compile(r"^[1-9]\d{0,2}$")


class InvalidNumber(ValueError):
    """The text is not a phone number we can dial; the message says why, in words."""


def normalise(text: str, default_country_code: str | None = None) -> str:
    """``text`` as E.164 (``+14155550100``); ``InvalidNumber`` saying why it is not one."""
    raw = text.strip()
    if not raw:
        raise InvalidNumber("no number")
    compact = _SEPARATORS.sub("", _TRUNK_ZERO.sub("", raw))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        digits = compact[1:]
    else:
        if not default_country_code:
            raise InvalidNumber(
                "no country code: write it as +<country code><number>, or set default_country_code"
            )
        digits = default_country_code + compact.lstrip("0")
    if not digits.isdigit():
        raise InvalidNumber(
            "only digits, spaces, dots, dashes, parentheses and a leading + or 00 are allowed"
        )
    number = "+" + digits
    if not E164.fullmatch(number):
        raise InvalidNumber("not an E.164 number: a country code and 8 to 15 digits in all")
    if number.startswith("+1") and not _NANP.fullmatch(number):
        raise InvalidNumber(
            "not a North American number: +1, then 10 digits; area code and exchange start with 2-9"
        )
    return number
