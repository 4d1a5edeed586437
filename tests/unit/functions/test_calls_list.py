"""GET /calls: placements newest first, joined with the calls they became, filtered, paginated by a signed
cursor."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.calls import app
from tests.support import constants as c
from tests.support.events import load_event
from voiceagent.calls import listing
from voiceagent.calls.summary import OUTCOMES
from voiceagent.clock import iso
from voiceagent.store import open_store
from voiceagent.store.states import CallState
from voiceagent.validation import InvalidRequest

DAY = datetime(2024, 11, 24, 12, 0, tzinfo=UTC)


def place(placement_id: str, at: datetime, *, to: str = c.TO_NUMBER, **extra: Any) -> None:
    record = {"state": "requested", "to_number": to, "from_number": c.FROM_NUMBER, "policy": "agent"}
    open_store().placements.create(placement_id, {**record, **extra}, at)


def complete(placement_id: str, call_uuid: str, outcome: str, at: datetime) -> None:
    store = open_store()
    store.placements.link(placement_id, call_uuid, at)
    store.calls.transition(call_uuid, CallState.COMPLETED, at, facts={"outcome": outcome})


def listed(lambda_context: Any, **query: str) -> tuple[int, dict[str, Any]]:
    event = load_event("calls_list")
    event["queryStringParameters"] = query
    response = app.lambda_handler(event, lambda_context)
    return response["statusCode"], json.loads(response["body"])


def window(**extra: str) -> dict[str, str]:
    return {"since": "2024-11-20T00:00:00Z", "until": "2024-11-26T00:00:00Z", **extra}


@pytest.fixture
def three_days(aws_stack: Any) -> None:
    """Five placements over three days: two ended (human, busy), one refused, one ringing, one elsewhere."""
    place("pl-day1-a", DAY - timedelta(days=2))
    complete("pl-day1-a", "call-a", "human", DAY - timedelta(days=2))
    place("pl-day2-b", DAY - timedelta(days=1))
    complete("pl-day2-b", "call-b", "busy", DAY - timedelta(days=1))
    place("pl-day2-c", DAY - timedelta(days=1, hours=-1), state="failed", error="create_call failed")
    place("pl-day3-d", DAY)
    place("pl-day3-e", DAY + timedelta(minutes=5), to="+14155550777")


def test_calls_are_listed_newest_first_with_where_each_stands(three_days: None, lambda_context: Any) -> None:
    status, page = listed(lambda_context, **window())

    assert status == 200
    assert [row["placement_id"] for row in page["calls"]] == [
        "pl-day3-e",
        "pl-day3-d",
        "pl-day2-c",
        "pl-day2-b",
        "pl-day1-a",
    ]
    by_id = {row["placement_id"]: row for row in page["calls"]}
    assert (by_id["pl-day1-a"]["outcome"], by_id["pl-day1-a"]["call_uuid"]) == ("human", "call-a")
    assert by_id["pl-day1-a"]["answered_by"] == "human"
    assert (by_id["pl-day2-c"]["state"], by_id["pl-day2-c"]["outcome"]) == ("not_placed", "not_placed")
    assert (by_id["pl-day3-d"]["state"], by_id["pl-day3-d"]["in_progress"]) == ("placed", True)
    assert page["next_cursor"] is None
    assert page["count"] == 5


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"outcome": "busy"}, ["pl-day2-b"]),
        ({"outcome": "in_progress"}, ["pl-day3-e", "pl-day3-d"]),
        ({"outcome": "not_placed"}, ["pl-day2-c"]),
        ({"number": "+14155550777"}, ["pl-day3-e"]),
        ({"number": c.FROM_NUMBER}, ["pl-day3-e", "pl-day3-d", "pl-day2-c", "pl-day2-b", "pl-day1-a"]),
        ({"placement": "pl-day2-b"}, ["pl-day2-b"]),
        ({"since": "2024-11-23T00:00:00Z", "until": "2024-11-24T00:00:00Z"}, ["pl-day2-c", "pl-day2-b"]),
    ],
)
def test_filters(filters: dict[str, str], expected: list[str], three_days: None, lambda_context: Any) -> None:
    _, page = listed(lambda_context, **window(**filters))
    assert [row["placement_id"] for row in page["calls"]] == expected


def test_pages_follow_one_another_through_the_cursor(three_days: None, lambda_context: Any) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        _, page = listed(lambda_context, **window(limit="2", **({"cursor": cursor} if cursor else {})))
        pages += 1
        seen += [row["placement_id"] for row in page["calls"]]
        assert page["count"] <= 2
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["pl-day3-e", "pl-day3-d", "pl-day2-c", "pl-day2-b", "pl-day1-a"]
    assert pages == 3


def test_the_default_window_is_the_last_week(aws_stack: Any, lambda_context: Any) -> None:
    now = datetime.now(UTC)
    place("pl-recent-1", now - timedelta(days=1))
    place("pl-too-old-1", now - timedelta(days=8))

    _, page = listed(lambda_context)

    assert [row["placement_id"] for row in page["calls"]] == ["pl-recent-1"]
    assert page["until"] >= iso(now)


def test_a_page_that_read_its_budget_ends_with_a_cursor(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "MAX_QUERIES", 2)
    place("pl-old-one", DAY - timedelta(days=4))

    _, first = listed(lambda_context, **window())  # reads two empty days, then stops

    assert first["calls"] == []
    assert first["next_cursor"]
    rows: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        _, page = listed(lambda_context, **window(cursor=cursor))
        rows += [row["placement_id"] for row in page["calls"]]
        cursor = page["next_cursor"]
    assert rows == ["pl-old-one"]


def test_an_altered_cursor_or_one_of_another_query_is_refused(three_days: None, lambda_context: Any) -> None:
    _, page = listed(lambda_context, **window(limit="1"))
    cursor = page["next_cursor"]
    body, _, mac = cursor.partition(".")
    forged = f"{body[:-2]}{'AA' if body[-2:] != 'AA' else 'BB'}.{mac}"

    for bad, expected in (
        (forged, "the next_cursor of a page, unchanged"),
        ("garbage", "the next_cursor of a page, unchanged"),
        (cursor, "a cursor of this query: give the same since, until and filters as before"),
    ):
        query = window(limit="1", cursor=bad, **({"outcome": "busy"} if bad == cursor else {}))
        status, answer = listed(lambda_context, **query)
        assert status == 400
        assert [error["field"] for error in answer["errors"]] == ["cursor"]
        assert answer["errors"][0]["allowed"] == expected


def test_a_bad_query_names_each_field_and_what_is_allowed(aws_stack: Any, lambda_context: Any) -> None:
    response = app.lambda_handler(load_event("calls_list_invalid"), lambda_context)

    assert response["statusCode"] == 400
    errors = {error["field"]: error for error in json.loads(response["body"])["errors"]}
    assert errors["outcome"]["value"] == "'maybe'"
    assert errors["outcome"]["allowed"] == f"one of: {', '.join(OUTCOMES)}"
    assert errors["limit"]["allowed"] == "a whole number from 1 to 100"
    assert errors["since"]["allowed"].startswith("an ISO 8601 time")
    assert errors["colour"]["allowed"].startswith("not a field of this request; the fields are: since, until")
    assert "^" not in response["body"]  # no regular expressions


@pytest.mark.parametrize(
    ("query", "allowed"),
    [
        ({"since": "2024-11-25T00:00:00Z", "until": "2024-11-24T00:00:00Z"}, "a time before until"),
        ({"since": "2024-01-01T00:00:00Z", "until": "2024-11-24T00:00:00Z"}, "at most 93 days before until"),
    ],
)
def test_a_window_that_makes_no_sense_is_refused(
    query: dict[str, str], allowed: str, aws_stack: Any, lambda_context: Any
) -> None:
    status, body = listed(lambda_context, **query)
    assert status == 400
    assert body["errors"][0]["field"] == "since"
    assert allowed in body["errors"][0]["allowed"]


def test_the_outcome_filter_offers_every_reported_outcome() -> None:
    assert set(typing.get_args(listing.ListedOutcome)) == set(OUTCOMES)


def test_the_sample_events_list_and_filter(three_days: None, lambda_context: Any) -> None:
    for name in ("calls_list", "calls_list_filtered"):
        assert app.lambda_handler(load_event(name), lambda_context)["statusCode"] == 200


def test_a_signed_cursor_with_a_position_of_another_shape_is_refused(aws_stack: Any) -> None:
    query = listing.ListQuery.model_validate(window())
    since, until = DAY - timedelta(days=1), DAY
    forged = listing.encode_cursor(
        listing._Cursor(listing._fingerprint(query), since, until, DAY.date(), {"pk": "CALL#x"}), b"key"
    )

    with pytest.raises(InvalidRequest, match="cursor"):
        listing.decode_cursor(forged, b"key", query)
