"""A campaign's contact list, read from JSON or CSV: numbers normalised to E.164, duplicates dropped, and
each invalid row named by its row number and the reason.

CSV: a header row, then one contact per row. ``number`` (or ``phone``, ``to``) is required; ``name`` and
``timezone`` are optional; every other column is a field passed to the agent with the call (its metadata:
at most 16, names of letters, digits and ``_``, values up to 256 characters). Rows are numbered as a
spreadsheet shows them (the header is row 1), JSON contacts from 1.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voiceagent.campaigns.models import MAX_FIELDS
from voiceagent.campaigns.numbers import InvalidNumber, normalise
from voiceagent.campaigns.windows import UnknownTimeZone, zone

NUMBER_COLUMNS = ("number", "phone", "to")
FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
RESERVED_PREFIX = "campaign_"


@dataclass(frozen=True)
class Contact:
    row: int
    number: str
    name: str | None = None
    timezone: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedRow:
    row: int
    value: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "value": self.value, "reason": self.reason}


@dataclass(frozen=True)
class ContactList:
    contacts: list[Contact]
    rejected: list[RejectedRow]
    duplicates: list[RejectedRow]
    """Rows whose number an earlier row already has: left out, not an error."""


def _shown(value: object) -> str:
    text = str(value if value is not None else "")
    return text if len(text) <= 40 else text[:40] + "…"


def _contact(
    row: int, raw: Mapping[str, Any], *, default_timezone: str | None, country_code: str | None
) -> Contact:
    """One contact, or ValueError naming what is wrong with the row."""
    number_text = next((raw[name] for name in NUMBER_COLUMNS if raw.get(name) not in (None, "")), None)
    if number_text is None:
        raise ValueError("no number (a column number, phone or to)")
    try:
        number = normalise(str(number_text), country_code)
    except InvalidNumber as exc:
        raise ValueError(f"number {_shown(number_text)!r}: {exc}") from None
    name = str(raw.get("name") or "").strip() or None
    if name and len(name) > 100:
        raise ValueError("name: at most 100 characters")
    timezone = str(raw.get("timezone") or "").strip() or default_timezone
    if not timezone:
        raise ValueError("no time zone: give a timezone column or the campaign's timezone")
    try:
        zone(timezone)
    except UnknownTimeZone as exc:
        raise ValueError(f"timezone: {exc}") from None
    extra: Mapping[str, Any] = raw["fields"] if isinstance(raw.get("fields"), Mapping) else {}
    columns = {
        key: value
        for key, value in {**raw, **extra}.items()
        if key not in (*NUMBER_COLUMNS, "name", "timezone", "fields") and value not in (None, "")
    }
    if len(columns) > MAX_FIELDS:
        raise ValueError(f"at most {MAX_FIELDS} fields besides number, name and timezone")
    fields: dict[str, str] = {}
    for key, value in columns.items():
        if not FIELD_NAME.fullmatch(str(key)) or str(key).startswith(RESERVED_PREFIX):
            raise ValueError(
                f"field {_shown(key)!r}: names are a letter then letters, digits or _ (up to 64), "
                f"not starting with {RESERVED_PREFIX}"
            )
        text = value if isinstance(value, str) else str(value)
        if len(text) > 256:
            raise ValueError(f"field {key}: at most 256 characters")
        fields[str(key)] = text.strip()
    return Contact(row, number, name, timezone, fields)


def _build(
    rows: Iterable[tuple[int, Mapping[str, Any]]], *, default_timezone: str | None, country_code: str | None
) -> ContactList:
    contacts: list[Contact] = []
    rejected: list[RejectedRow] = []
    duplicates: list[RejectedRow] = []
    seen: dict[str, int] = {}
    for row, raw in rows:
        shown = _shown(next((raw.get(name) for name in NUMBER_COLUMNS if raw.get(name)), ""))
        try:
            contact = _contact(row, raw, default_timezone=default_timezone, country_code=country_code)
        except ValueError as exc:
            rejected.append(RejectedRow(row, shown, str(exc)))
            continue
        if contact.number in seen:
            duplicates.append(RejectedRow(row, shown, f"the same number as row {seen[contact.number]}"))
            continue
        seen[contact.number] = row
        contacts.append(contact)
    return ContactList(contacts, rejected, duplicates)


def from_json(
    items: list[dict[str, Any]], *, default_timezone: str | None, country_code: str | None
) -> ContactList:
    return _build(
        ((index, item) for index, item in enumerate(items, start=1)),
        default_timezone=default_timezone,
        country_code=country_code,
    )


class CsvProblem(ValueError):
    """The CSV as a whole cannot be read (no header, no number column)."""


def from_csv(text: str, *, default_timezone: str | None, country_code: str | None) -> ContactList:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), skipinitialspace=True)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if not header:
        raise CsvProblem("contacts_csv: no header row; the first row names the columns (number, name, …)")
    if not set(header) & set(NUMBER_COLUMNS):
        raise CsvProblem("contacts_csv: no number column; name one of: " + ", ".join(NUMBER_COLUMNS))
    reader.fieldnames = header
    try:
        rows = [
            (reader.line_num, {key: value for key, value in row.items() if key is not None})
            for row in reader
            if any((value or "").strip() for value in row.values() if isinstance(value, str))
        ]
    except csv.Error as exc:
        raise CsvProblem(f"contacts_csv: not CSV at row {reader.line_num}: {exc}") from None
    return _build(rows, default_timezone=default_timezone, country_code=country_code)
