"""``GET /calls``: the calls placed through ``POST /calls``, newest first, filtered by time, number, outcome
or placement, a page at a time.

Placements are read from the ``ByTime`` index one UTC day at a time (newest day first); the calls they became
are read in one batch per page, so each row says where the call stands now. A page is filled up to ``limit``
matching calls, reading at most ``MAX_QUERIES`` index pages; it then ends with a cursor, which is opaque and
signed (a cursor a client altered, or one from another query, is refused). A page may hold fewer than
``limit`` calls while a cursor is given: follow cursors until there is none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from voiceagent.calls.lookup import CALL_ID
from voiceagent.calls.summary import list_outcome, summarize
from voiceagent.clock import iso, parse_iso
from voiceagent.store import Store
from voiceagent.store.placements import PlacementRepository, Position
from voiceagent.validation import InvalidRequest, Problem, shown

DEFAULT_DAYS = 7
MAX_DAYS = 93
MAX_QUERIES = 12
"""Index pages one request reads at most (each one day's worth, or ``limit`` placements of it)."""

ListedOutcome = Literal[
    "human",
    "voicemail_left",
    "voicemail_cut",
    "voicemail_hangup",
    "machine_hangup",
    "no_answer",
    "busy",
    "failed",
    "not_placed",
    "in_progress",
]
"""The outcomes a call is reported with (``summary.OUTCOMES``; a unit test keeps the two equal)."""


def _time(value: object) -> object:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return parse_iso(str(value)).astimezone(UTC)
    except ValueError as exc:
        raise ValueError("not a time") from exc


class ListQuery(BaseModel):
    """The query string of ``GET /calls`` (and the ``voiceagent calls`` options)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    since: Annotated[
        datetime | None, Field(description="an ISO 8601 time such as 2024-11-24T12:00:00Z or 2024-11-24")
    ] = None
    until: Annotated[
        datetime | None, Field(description="an ISO 8601 time such as 2024-11-24T18:00:00Z or 2024-11-25")
    ] = None
    number: str | None = Field(
        default=None,
        pattern=r"^(\+?\d{3,15}|sip:[^\s<>]{3,200})$",
        description="the called or calling number, digits with or without a leading + (or a sip: URI)",
    )
    outcome: ListedOutcome | None = None
    placement: str | None = Field(
        default=None,
        pattern=rf"^{CALL_ID.pattern}$",
        description="a placement id as POST /calls answered it (pl-…)",
    )
    limit: int = Field(default=25, ge=1, le=100)
    cursor: str | None = Field(
        default=None, max_length=2048, description="the next_cursor of the page before"
    )

    _parse_times = field_validator("since", "until", mode="before")(_time)

    def filters(self) -> dict[str, Any]:
        """What makes two queries the same query (a cursor of one is valid for the other)."""
        return self.model_dump(mode="json", exclude={"limit", "cursor"})

    def matches(self, row: dict[str, Any]) -> bool:
        if self.placement and row["placement_id"] != self.placement:
            return False
        if self.outcome and list_outcome(row) != self.outcome:
            return False
        if self.number:
            wanted = self.number.removeprefix("+")
            numbers = {str(row.get(name) or "").removeprefix("+") for name in ("to", "from")}
            if wanted not in numbers:
                return False
        return True


@dataclass(frozen=True)
class _Cursor:
    query: str
    since: datetime
    until: datetime
    day: date
    after: Position | None


def _fingerprint(query: ListQuery) -> str:
    text = json.dumps(query.filters(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(cursor: _Cursor, key: bytes) -> str:
    payload = {
        "q": cursor.query,
        "s": iso(cursor.since),
        "u": iso(cursor.until),
        "d": cursor.day.isoformat(),
        "k": cursor.after,
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:16])}"


def _bad_cursor(value: str, why: str) -> InvalidRequest:
    return InvalidRequest([Problem("cursor", shown(value), why)])


def decode_cursor(value: str, key: bytes, query: ListQuery) -> _Cursor:
    """The cursor a page ended with; ``InvalidRequest`` when it was altered or belongs to another query."""
    body, _, mac = value.partition(".")
    try:
        expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:16])
        if not hmac.compare_digest(expected, mac):
            raise _bad_cursor(value, "the next_cursor of a page, unchanged")
        payload = json.loads(_unb64(body))
        cursor = _Cursor(
            str(payload["q"]),
            parse_iso(payload["s"]),
            parse_iso(payload["u"]),
            date.fromisoformat(payload["d"]),
            payload["k"],
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise _bad_cursor(value, "the next_cursor of a page, unchanged") from exc
    if cursor.query != _fingerprint(query):
        raise _bad_cursor(value, "a cursor of this query: give the same since, until and filters as before")
    if cursor.after is not None and not PlacementRepository.valid_position(cursor.after):
        raise _bad_cursor(value, "the next_cursor of a page, unchanged")
    return cursor


def _window(query: ListQuery, now: datetime) -> tuple[datetime, datetime]:
    until = query.until or now
    since = query.since or until - timedelta(days=DEFAULT_DAYS)
    problems = []
    if since >= until:
        problems.append(Problem("since", shown(iso(since)), f"a time before until ({iso(until)})"))
    elif until - since > timedelta(days=MAX_DAYS):
        problems.append(
            Problem("since", shown(iso(since)), f"at most {MAX_DAYS} days before until: narrow the range")
        )
    if problems:
        raise InvalidRequest(problems)
    return since, until


def list_calls(query: ListQuery, *, store: Store, cursor_key: bytes, now: datetime) -> dict[str, Any]:
    """One page of calls matching ``query``, newest first, with the cursor of the next page (or None)."""
    fingerprint = _fingerprint(query)
    if query.cursor:
        cursor = decode_cursor(query.cursor, cursor_key, query)
        since, until, day, after = cursor.since, cursor.until, cursor.day, cursor.after
    else:
        since, until = _window(query, now)
        day, after = until.date(), None
    rows: list[dict[str, Any]] = []
    for _ in range(MAX_QUERIES):
        listed = store.placements.list_day(day, iso(since), iso(until), limit=query.limit, after=after)
        linked = [str(p["call_uuid"]) for p in listed.placements if p.get("call_uuid")]
        calls = store.calls.get_many(linked) if linked else {}
        for index, placement in enumerate(listed.placements):
            row = summarize(placement, calls.get(str(placement.get("call_uuid"))))
            if query.matches(row):
                rows.append(row)
            if len(rows) == query.limit:
                more = index + 1 < len(listed.placements) or listed.last or day > since.date()
                position = PlacementRepository.position(placement)
                next_cursor = _Cursor(fingerprint, since, until, day, position) if more else None
                return _page(rows, next_cursor, cursor_key, since, until)
        if listed.last:
            after = listed.last
            continue
        if day <= since.date():
            return _page(rows, None, cursor_key, since, until)
        day, after = day - timedelta(days=1), None
    return _page(rows, _Cursor(fingerprint, since, until, day, after), cursor_key, since, until)


def _page(
    rows: list[dict[str, Any]], cursor: _Cursor | None, key: bytes, since: datetime, until: datetime
) -> dict[str, Any]:
    return {
        "calls": rows,
        "count": len(rows),
        "since": iso(since),
        "until": iso(until),
        "next_cursor": encode_cursor(cursor, key) if cursor else None,
    }
