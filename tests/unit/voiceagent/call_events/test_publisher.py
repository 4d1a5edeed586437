"""Publishing: in stream order, a failed publish retried, then left to the event source mapping from the
failed record on (never the records after it twice), and duplicates recognisable by their event_id."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import constants as c
from tests.support import sample_changes as changes
from voiceagent import aws
from voiceagent.call_events import publisher as publishing
from voiceagent.call_events import schema
from voiceagent.call_events.publisher import Publisher
from voiceagent.plivo.rest import Deadline

THROTTLED = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow"}]}


class FakeEventBridge:
    """PutEvents answering from a script: ``ok``, a response dict, or an exception to raise."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.sent: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.sent.append(Entries)
        answer = self.script.pop(0) if self.script else "ok"
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, dict):
            return dict(answer)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i, _ in enumerate(Entries)]}

    def detail_types(self) -> list[str]:
        return [entry["DetailType"] for entries in self.sent for entry in entries]


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    taken: list[float] = []
    monkeypatch.setattr(publishing, "_sleep", taken.append)
    return taken


def publisher(client: Any, *, bus: str | None = c.EVENT_BUS_NAME, seconds: float = 20) -> Publisher:
    return Publisher(
        bus_name=bus,
        stage=c.STAGE,
        call_record=changes.call_record,
        client=lambda: client,
        deadline=Deadline.after(seconds),
    )


def sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def test_the_facts_of_a_batch_go_to_the_bus_in_stream_order(call_event_bus: Any) -> None:
    result = publisher(aws.events()).publish(changes.LIFE)

    assert result.failed is None
    received = call_event_bus()
    assert [event["detail"]["event_id"] for event in received] == [d.event_id for d in result.published]
    assert {event["source"] for event in received} == {schema.SOURCE}
    assert {event["detail-type"] for event in received} == {model.DETAIL_TYPE for model in schema.DETAILS}
    completed = next(event for event in received if event["detail-type"] == "Call Completed")
    assert completed["detail"]["metadata"] == changes.METADATA
    assert completed["detail"]["from"] == c.FROM_NUMBER  # the contract's name, not the model's
    assert completed["time"].startswith("2024-11-24T12:30:31")  # the fact's own time


def test_refused_entries_are_tried_again_with_jittered_backoff(pauses: list[float]) -> None:
    client = FakeEventBridge(THROTTLED, THROTTLED)

    result = publisher(client).publish([changes.COMPLETED_MODIFY])

    assert result.failed is None
    assert len(client.sent) == 3
    assert [detail.DETAIL_TYPE for detail in result.published] == ["Call Completed"]
    assert len(pauses) == 2
    assert 0.05 <= pauses[0] <= 0.1
    assert 0.1 <= pauses[1] <= 0.2


def test_only_the_refused_entries_of_a_record_are_sent_again(pauses: list[float]) -> None:
    client = FakeEventBridge(
        {"FailedEntryCount": 1, "Entries": [{"EventId": "1"}, {"ErrorCode": "InternalFailure"}]}
    )

    publisher(client).publish([changes.NOTIFIED_MODIFY])  # Machine Detected and Agent Notified

    assert [len(entries) for entries in client.sent] == [2, 1]
    assert client.sent[1][0]["DetailType"] == "Agent Notified"


def test_a_record_that_cannot_be_published_is_the_batchs_failure_and_nothing_after_it_is_sent(
    pauses: list[float],
) -> None:
    """Lambda retries from the failed record: publishing the ones after it now would publish them twice."""
    client = FakeEventBridge("ok", THROTTLED, THROTTLED, THROTTLED)

    result = publisher(client).publish(
        [changes.ANSWERED_INSERT, changes.STREAM_STARTED, changes.COMPLETED_MODIFY]
    )

    assert result.failed == sequence(changes.STREAM_STARTED)
    assert result.skipped == 1
    assert client.detail_types() == ["Call Answered"] + ["Stream Started"] * 3
    assert [detail.DETAIL_TYPE for detail in result.published] == ["Call Answered"]


def test_an_unreachable_bus_fails_the_record(pauses: list[float]) -> None:
    error = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no bus"}}, "PutEvents")
    client = FakeEventBridge(error, error, error)

    result = publisher(client).publish([changes.COMPLETED_MODIFY])

    assert result.failed == sequence(changes.COMPLETED_MODIFY)
    assert result.published == []


def test_no_time_left_means_no_retry_in_this_invocation(pauses: list[float]) -> None:
    client = FakeEventBridge(THROTTLED)

    result = publisher(client, seconds=0.5).publish([changes.COMPLETED_MODIFY])

    assert result.failed == sequence(changes.COMPLETED_MODIFY)
    assert len(client.sent) == 1
    assert pauses == []


def test_a_record_the_code_cannot_read_fails_after_what_came_before_it_was_published(
    pauses: list[float],
) -> None:
    client = FakeEventBridge()

    result = publisher(client).publish([changes.STREAM_STARTED, changes.MALFORMED, changes.COMPLETED_MODIFY])

    assert result.failed == sequence(changes.MALFORMED)
    assert client.detail_types() == ["Stream Started"]


def test_without_a_bus_nothing_is_sent_and_nothing_fails() -> None:
    client = FakeEventBridge()

    result = publisher(client, bus=None).publish(changes.LIFE)

    assert result.failed is None
    assert client.sent == []
    assert len(result.published) == 16


def test_a_retried_batch_publishes_the_same_event_ids_for_consumers_to_drop(pauses: list[float]) -> None:
    """When a duplicate happens (Lambda retries a record whose events were in fact put — a lost answer, a
    timeout, one refused entry among two), it carries the event_id of the first: consumers drop it."""
    first = FakeEventBridge(
        {"FailedEntryCount": 1, "Entries": [{"EventId": "1"}, {"ErrorCode": "InternalFailure"}]},
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]},
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]},
    )
    assert publisher(first).publish([changes.NOTIFIED_MODIFY]).failed is not None
    retry = FakeEventBridge()
    assert publisher(retry).publish([changes.NOTIFIED_MODIFY]).failed is None

    delivered = [
        json.loads(entry["Detail"]) for entries in (first.sent[0][:1], retry.sent[0]) for entry in entries
    ]
    ids = [detail["event_id"] for detail in delivered]
    assert ids.count(f"{c.CALL_UUID}:machine-detected") == 2  # the duplicate…
    assert len(set(ids)) == 2  # …is recognisable: the same id, the same fact
