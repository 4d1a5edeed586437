from __future__ import annotations

import json
from typing import Any

import pytest

from functions.stream_status import app
from tests.support import constants as c
from tests.support import make_events as ev
from tests.support.events import load_event
from voiceagent.store import open_store


def post(lambda_context: Any, name: str) -> dict[str, Any]:
    response: dict[str, Any] = app.lambda_handler(load_event(name), lambda_context)
    return response


def items_of(table_items: Any, prefix: str) -> list[dict[str, Any]]:
    return [item for item in table_items() if str(item["sk"]).startswith(prefix)]


def stream(table_items: Any) -> dict[str, Any]:
    (record,) = items_of(table_items, "STREAM#")
    return record


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


@pytest.mark.parametrize(
    ("name", "kind", "plivo_event"),
    [
        ("stream_status_start_stream", "started", "StartStream"),
        ("stream_status_stop_stream", "stopped", "StopStream"),
        ("stream_status_dropped_stream", "dropped", "DroppedStream"),
        ("stream_status_degraded_stream", "degraded", "DegradedStream"),
        ("stream_status_started_json", "started", "started"),
        ("stream_status_stopped_json", "stopped", "stopped"),
        ("stream_status_failed_json", "dropped", "failed"),
        ("stream_status_unknown_event", "unknown", "PausedStream"),
    ],
)
def test_every_event_of_both_vocabularies_is_stored_with_all_its_parameters(
    name: str, kind: str, plivo_event: str, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert post(lambda_context, name)["statusCode"] == 200

    (event,) = items_of(table_items, "STREAMEVENT#")
    assert (event["kind"], event["plivo_event"], event["stream_id"]) == (kind, plivo_event, c.STREAM_ID)
    assert event["parameters"]["CallUUID"] == c.CALL_UUID
    assert event["parameters"]["Event"] == plivo_event
    assert event["expires_at"] > 0


def test_unknown_fields_are_kept(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    post(lambda_context, "stream_status_unknown_event")

    (event,) = items_of(table_items, "STREAMEVENT#")
    assert event["parameters"]["Paused"] == "true"
    assert event["parameters"]["ServiceURL"].startswith("wss://")
    assert stream(table_items)["unknown_event_count"] == 1


def test_start_then_stop_gives_the_stream_its_start_end_and_the_call_its_stream(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    post(lambda_context, "stream_status_start_stream")
    post(lambda_context, "stream_status_stop_stream")

    record = stream(table_items)
    assert record["started_at"] == "2024-11-24T12:30:09.000Z"
    assert record["ended_at"] == "2024-11-24T12:31:10.000Z"
    call = open_store().calls.get_call(c.CALL_UUID)
    assert call is not None
    assert call["stream_id"] == c.STREAM_ID


def test_stop_before_start_ends_up_the_same(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    post(lambda_context, "stream_status_stop_stream")
    post(lambda_context, "stream_status_start_stream")

    record = stream(table_items)
    assert (record["started_at"], record["ended_at"]) == (
        "2024-11-24T12:30:09.000Z",
        "2024-11-24T12:31:10.000Z",
    )


def test_retried_event_is_stored_and_counted_once(
    aws_stack: Any, lambda_context: Any, table_items: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A retry with a fresh nonce runs (one reusing the nonce is a replay, answered from memory): the event's
    own idempotency key (stream, event, timestamp) keeps it from counting twice."""
    post(lambda_context, "stream_status_degraded_stream")
    form = {**ev.STREAM_FORM, "Event": "DegradedStream", "Timestamp": "2024-11-24 12:30:30"}
    retry = ev.http_event(
        "/plivo/stream-status", form={**form, "BufferUsagePercentage": "60"}, nonce="9" * 20
    )
    assert app.lambda_handler(retry, lambda_context)["statusCode"] == 200

    assert len(items_of(table_items, "STREAMEVENT#")) == 1
    assert stream(table_items)["degradation_count"] == 1
    names = [
        metric["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for metric in emitted_metrics(capsys)
    ]
    assert names == ["StreamsDegraded", "StreamsDegradedByLevel"]


def test_degradation_level_and_drops_are_recorded(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    post(lambda_context, "stream_status_degraded_stream")
    post(lambda_context, "stream_status_dropped_stream")

    record = stream(table_items)
    assert record["last_degradation_level"] == "60"
    assert record["drop_count"] == 1
    assert record["last_error"] == "websocket connection closed unexpectedly"


@pytest.mark.parametrize(
    ("name", "metric"),
    [
        ("stream_status_start_stream", "StreamsStarted"),
        ("stream_status_stopped_json", "StreamsStopped"),
        ("stream_status_dropped_stream", "StreamsDropped"),
        ("stream_status_unknown_event", "StreamEventsUnknown"),
    ],
)
def test_metrics_carry_the_stage(
    name: str, metric: str, aws_stack: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    post(lambda_context, name)

    (emf,) = emitted_metrics(capsys)
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Metrics"][0]["Name"] == metric
    assert set(directive["Dimensions"][0]) == {"stage", "service"}
    assert emf["stage"] == c.STAGE


def test_degradations_are_also_counted_by_level(
    aws_stack: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    post(lambda_context, "stream_status_degraded_stream")

    by_level = emitted_metrics(capsys)[1]
    assert by_level["level"] == "60"


def test_events_for_unknown_calls_are_kept(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    post(lambda_context, "stream_status_dropped_stream")

    assert items_of(table_items, "STREAMEVENT#")[0]["pk"] == f"CALL#{c.CALL_UUID}"


@pytest.mark.parametrize(
    ("name", "status"), [("stream_status_bad_signature", 403), ("stream_status_missing_event", 400)]
)
def test_bad_requests_store_nothing(
    name: str, status: int, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert post(lambda_context, name)["statusCode"] == status
    assert table_items() == []


def test_a_field_without_a_name_is_not_stored(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:

    event = ev.stream_event("StartStream", "2024-11-24 12:30:09", **{"": "x", " ": "y"})

    assert app.lambda_handler(event, lambda_context)["statusCode"] == 200

    (stored,) = items_of(table_items, "STREAMEVENT#")
    assert "" not in stored["parameters"]
    assert " " not in stored["parameters"]
    assert stored["parameters"]["Event"] == "StartStream"


def test_a_start_stream_after_the_hangup_does_not_rewrite_the_completed_calls_stream(
    aws_stack: Any, lambda_context: Any
) -> None:
    from functions.hangup import app as hangup_app

    post(lambda_context, "stream_status_start_stream")
    hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)

    late = ev.stream_event(
        "StartStream", "2024-11-24 12:31:30", StreamID="c3d4e5f6-0000-4000-8000-000000000001"
    )
    assert app.lambda_handler(late, lambda_context)["statusCode"] == 200

    call = open_store().calls.get_call(c.CALL_UUID)
    assert call is not None
    assert (call["state"], call["stream_id"]) == ("completed", c.STREAM_ID)


def test_a_start_stream_after_the_hangup_still_names_a_stream_the_call_never_had(
    aws_stack: Any, lambda_context: Any
) -> None:
    from functions.hangup import app as hangup_app

    hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)  # the hangup overtook it

    post(lambda_context, "stream_status_start_stream")

    call = open_store().calls.get_call(c.CALL_UUID)
    assert call is not None
    assert call["stream_id"] == c.STREAM_ID
