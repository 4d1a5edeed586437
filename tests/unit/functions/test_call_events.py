"""functions/call_events: the table's changes in, call events on the bus out, failures reported per record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.answer import app as answer_app
from functions.call_events import app
from functions.hangup import app as hangup_app
from tests.support import sample_changes as changes
from tests.support.event_patterns import matches
from tests.support.events import load_event
from tests.support.table_stream import TableStream
from tests.support.template import fact_filter_pattern
from voiceagent.call_events import publisher
from voiceagent.settings import get_settings


def run(event: dict[str, Any], lambda_context: Any) -> list[str]:
    response: dict[str, Any] = app.lambda_handler(event, lambda_context)
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def metrics(capsys: pytest.CaptureFixture[str]) -> set[str]:
    names: set[str] = set()
    for line in capsys.readouterr().out.splitlines():
        if line.startswith('{"_aws"'):
            names |= {
                metric["Name"] for metric in json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            }
    return names


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publisher, "_sleep", lambda _seconds: None)


def test_every_detail_type_of_the_sample_life_reaches_the_bus(
    call_event_bus: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(load_event("call_events_call_life"), lambda_context) == []

    received = call_event_bus()
    assert len(received) == 16
    assert "CallEventsPublished" in metrics(capsys)


def test_a_change_without_facts_publishes_nothing(call_event_bus: Any, lambda_context: Any) -> None:
    assert run(load_event("call_events_no_facts"), lambda_context) == []
    assert call_event_bus() == []


def test_an_unreadable_record_is_reported_and_the_rest_left_for_the_retry(
    call_event_bus: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = run(load_event("call_events_malformed_record"), lambda_context)

    assert failed == [changes.MALFORMED["dynamodb"]["SequenceNumber"]]
    assert [event["detail-type"] for event in call_event_bus()] == ["Stream Started"]
    assert {"CallEventsUnreadable", "CallEventsPublishFailed"} <= metrics(capsys)


def test_a_bus_that_does_not_exist_fails_the_first_record_with_facts(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    get_settings.cache_clear()

    failed = run(load_event("call_events_placements"), lambda_context)

    assert failed == [changes.PLACED["dynamodb"]["SequenceNumber"]]
    assert "CallEventsPublishFailed" in metrics(capsys)


def test_without_a_bus_configured_every_record_succeeds(aws_stack: Any, lambda_context: Any) -> None:
    """Unit tests and stacks from before the bus: EVENT_BUS_NAME unset publishes nothing, fails nothing."""
    assert get_settings().event_bus_name is None
    assert run(load_event("call_events_call_life"), lambda_context) == []


def test_webhooks_to_the_bus_through_the_tables_stream(
    call_event_bus: Any, table_stream: TableStream, lambda_context: Any
) -> None:
    """The real chain in one process: webhooks write facts, the stream carries the changes through the
    template's filter, the function publishes, a rule delivers."""
    assert answer_app.lambda_handler(load_event("answer_outbound"), lambda_context)["statusCode"] == 200
    assert hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)["statusCode"] == 200
    records = [record for record in table_stream.records() if matches(fact_filter_pattern(), record)]

    assert run({"Records": records}, lambda_context) == []

    received = call_event_bus()
    assert [event["detail-type"] for event in received] == ["Call Answered", "Call Completed"]
    assert received[1]["detail"]["outcome"] == "human"
