"""Each fact of a call, read from the table's changes, exactly once — however often Plivo retried or an
attacker replayed the webhooks behind it. Calls are played through the real handlers into moto's table,
whose DynamoDB stream is then read and filtered as the event source mapping would."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import responses

from functions.answer import app as answer_app
from functions.hangup import app as hangup_app
from functions.machine_detection import app as detection_app
from functions.stream_status import app as stream_status_app
from functions.voicemail import app as voicemail_app
from tests.support import constants as c
from tests.support import make_events as me
from tests.support import plivo_api as api
from tests.support.event_patterns import matches
from tests.support.events import load_event
from tests.support.table_stream import TableStream
from tests.support.template import fact_filter_pattern
from voiceagent.call_events import schema
from voiceagent.call_events.facts import Context, derive
from voiceagent.calls.placing import PlaceCallRequest, place_call
from voiceagent.clock import utcnow
from voiceagent.plivo.rest import Deadline, plivo_gateway
from voiceagent.settings import get_settings
from voiceagent.store import open_store
from voiceagent.store.changes import decode

METADATA = {"campaign": "spring", "contact": "0007"}
SECOND_STREAM = "d4e5f6a7-b8c9-4d0e-8f1a-3b4c5d6e7f80"


def published(table_stream: TableStream) -> list[schema.Detail]:
    """What the publisher would put on the bus for the changes since the last look."""
    context = Context(stage=c.STAGE, call_record=open_store().calls.get_call)
    return [
        detail
        for record in table_stream.records()
        if matches(fact_filter_pattern(), record)
        for detail in derive(decode(record), context)
    ]


def kinds(details: list[schema.Detail]) -> Counter[str]:
    return Counter(detail.DETAIL_TYPE for detail in details)


def of_type(details: list[schema.Detail], detail_type: type[schema.Detail]) -> Any:
    (found,) = [detail for detail in details if isinstance(detail, detail_type)]
    return found


def deliver(handler: Any, event: dict[str, Any], lambda_context: Any) -> None:
    assert handler(event, lambda_context)["statusCode"] == 200


def place(plivo_rest: responses.RequestsMock, policy: str, status: int = 201) -> None:
    """POST /calls's own code path: the placement recorded, then Plivo asked once."""
    plivo_rest.post(api.CREATE_CALL, json=api.created() if status < 300 else {"error": "no"}, status=status)
    request = PlaceCallRequest.model_validate(
        {"to": c.TO_NUMBER, "from": c.FROM_NUMBER, "policy": policy, "metadata": METADATA}
        | {"placement_id": c.PLACEMENT_ID}
    )
    place_call(
        request,
        placements=open_store().placements,
        gateway=plivo_gateway,
        settings=get_settings(),
        base_url=f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}",
        now=utcnow(),
        deadline=Deadline.after(5),
    )


def retried(path: str, form: dict[str, str], nonce: str) -> dict[str, Any]:
    """Plivo sending the same callback again as a new request (its own nonce)."""
    return me.http_event(path, form=form, query=me.PLACEMENT_QUERY, nonce=nonce)


def test_a_human_call_gives_each_fact_once_whatever_plivo_repeats(
    table_stream: TableStream, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    place(plivo_rest, "transfer")
    for event in (load_event("answer_outbound"), load_event("answer_outbound")):  # the second: a replay
        deliver(answer_app.lambda_handler, event, lambda_context)
    deliver(answer_app.lambda_handler, retried("/plivo/answer", me.ANSWER_FORM, "1" * 20), lambda_context)
    for _ in range(2):
        deliver(stream_status_app.lambda_handler, load_event("stream_status_start_stream"), lambda_context)
    start_again = {**me.STREAM_FORM, "Event": "StartStream", "Timestamp": "2024-11-24 12:30:09"}
    deliver(  # Plivo retrying it as a new request: stored once all the same (stream, event, time)
        stream_status_app.lambda_handler,
        me.http_event("/plivo/stream-status", form=start_again, nonce="2" * 20),
        lambda_context,
    )
    stop = me.stream_event("StopStream", "2024-11-24 12:31:10")
    deliver(stream_status_app.lambda_handler, stop, lambda_context)
    for _ in range(2):
        deliver(hangup_app.lambda_handler, load_event("hangup_human"), lambda_context)
    deliver(hangup_app.lambda_handler, retried("/plivo/hangup", me.HANGUP_FORM, "3" * 20), lambda_context)

    details = published(table_stream)

    assert kinds(details) == Counter(
        {"Call Placed": 1, "Call Answered": 1, "Stream Started": 1, "Stream Stopped": 1, "Call Completed": 1}
    )
    assert len({detail.event_id for detail in details}) == len(details)
    completed = of_type(details, schema.CallCompleted)
    assert (completed.outcome, completed.hangup_cause, completed.hangup_cause_code) == (
        "human",
        "NORMAL_CLEARING",
        4000,
    )
    assert (completed.duration_seconds, completed.bill_duration_seconds) == (62, 62)
    assert (completed.to, completed.from_, completed.policy) == (c.TO_NUMBER, c.FROM_NUMBER, "transfer")
    assert (completed.placement_id, completed.request_uuid) == (c.PLACEMENT_ID, c.REQUEST_UUID)
    assert completed.metadata == METADATA
    assert completed.machine_detected is False
    assert completed.answered_at == of_type(details, schema.CallAnswered).answered_at
    placed = of_type(details, schema.CallPlaced)
    assert (placed.status, placed.call_uuid, placed.attempts) == ("requested", None, 1)
    assert placed.event_id == f"{c.PLACEMENT_ID}:call-placed"
    started = of_type(details, schema.StreamStarted)
    assert started.metadata == METADATA  # a stream event gets the call's ids and metadata
    assert started.event_id == f"{c.CALL_UUID}:stream-started:{c.STREAM_ID}"


def test_a_voicemail_left_by_the_transfer_policy(
    table_stream: TableStream, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    place(plivo_rest, "transfer")
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)
    deliver(answer_app.lambda_handler, load_event("answer_outbound"), lambda_context)
    for _ in range(2):
        deliver(detection_app.lambda_handler, load_event("machine_detection_machine"), lambda_context)
    deliver(voicemail_app.lambda_handler, load_event("voicemail"), lambda_context)
    deliver(hangup_app.lambda_handler, load_event("hangup_end_of_xml"), lambda_context)

    details = published(table_stream)

    assert kinds(details) == Counter(
        {
            "Call Placed": 1,
            "Call Answered": 1,
            "Machine Detected": 1,
            "Voicemail Left": 1,
            "Call Completed": 1,
        }
    )
    detected = of_type(details, schema.MachineDetected)
    assert (detected.policy, detected.policy_applied, detected.policy_result) == (
        "transfer",
        "transfer",
        "transferred",
    )
    assert detected.if_machine == "continue"
    left = of_type(details, schema.VoicemailLeft)
    assert (left.via, left.started_at) == ("transfer", None)
    completed = of_type(details, schema.CallCompleted)
    assert (completed.outcome, completed.machine_detected) == ("voicemail_left", True)


@pytest.mark.parametrize(
    ("played", "outcome", "expected"),
    [(True, "voicemail_left", "Voicemail Left"), (False, "voicemail_cut", "Voicemail Cut")],
)
def test_a_message_on_our_stream_is_left_once_or_cut(
    played: bool, outcome: str, expected: str, table_stream: TableStream, lambda_context: Any
) -> None:
    """The media route notes when the message starts and when Plivo confirms it played; the hangup derives
    the outcome from those facts, and the event says so once (never a second Voicemail Left at the end)."""
    calls = open_store().calls
    deliver(answer_app.lambda_handler, load_event("answer_outbound"), lambda_context)
    calls.update_call(c.CALL_UUID, utcnow(), facts={"machine_detection_result": "machine"})
    calls.update_call(c.CALL_UUID, utcnow(), facts={"voicemail_started_at": "2024-11-24T12:30:20.000Z"})
    if played:
        calls.update_call(c.CALL_UUID, utcnow(), facts={"voicemail_played_at": "2024-11-24T12:30:29.000Z"})
    deliver(hangup_app.lambda_handler, load_event("hangup_human"), lambda_context)

    details = published(table_stream)

    assert kinds(details)[expected] == 1
    assert kinds(details)["Voicemail Left"] + kinds(details)["Voicemail Cut"] == 1
    assert of_type(details, schema.CallCompleted).outcome == outcome
    voicemail: Any = next(detail for detail in details if expected == detail.DETAIL_TYPE)
    assert voicemail.via == "stream"
    assert voicemail.started_at == "2024-11-24T12:30:20.000Z"


def test_a_machine_detected_after_the_hangup_corrects_the_outcome(
    table_stream: TableStream, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    place(plivo_rest, "hangup")
    deliver(answer_app.lambda_handler, load_event("answer_outbound"), lambda_context)
    deliver(hangup_app.lambda_handler, load_event("hangup_human"), lambda_context)
    deliver(detection_app.lambda_handler, load_event("machine_detection_machine"), lambda_context)

    details = published(table_stream)

    assert of_type(details, schema.CallCompleted).outcome == "human"
    detected = of_type(details, schema.MachineDetected)
    assert detected.after_hangup is True
    assert detected.policy_applied is None
    corrected = of_type(details, schema.CallOutcomeCorrected)
    assert (corrected.previous_outcome, corrected.outcome) == ("human", "voicemail_hangup")
    assert not plivo_rest.calls[1:]  # nothing was done about the machine: only the create


def test_a_dropped_stream_reconnected_is_recovered_once(
    table_stream: TableStream, lambda_context: Any
) -> None:
    deliver(answer_app.lambda_handler, load_event("answer_outbound"), lambda_context)
    deliver(stream_status_app.lambda_handler, load_event("stream_status_start_stream"), lambda_context)
    deliver(stream_status_app.lambda_handler, load_event("stream_status_dropped_stream"), lambda_context)
    deliver(answer_app.lambda_handler, load_event("stream_ended"), lambda_context)  # <Redirect>: reconnect
    for _ in range(2):  # the new stream's StartStream, and Plivo's retry of it
        deliver(
            stream_status_app.lambda_handler,
            me.stream_event("StartStream", "2024-11-24 12:30:41", StreamID=SECOND_STREAM),
            lambda_context,
        )

    details = published(table_stream)

    assert kinds(details) == Counter(
        {"Call Answered": 1, "Stream Started": 2, "Stream Dropped": 1, "Stream Recovered": 1}
    )
    recovered = of_type(details, schema.StreamRecovered)
    assert (recovered.stream_id, recovered.ended_stream_id) == (SECOND_STREAM, c.STREAM_ID)
    assert recovered.attempt == 1
    assert of_type(details, schema.StreamDropped).error == "websocket connection closed unexpectedly"
    assert len({detail.event_id for detail in details}) == len(details)


def test_each_degradation_is_its_own_fact(table_stream: TableStream, lambda_context: Any) -> None:
    deliver(answer_app.lambda_handler, load_event("answer_outbound"), lambda_context)
    for timestamp, level in (("2024-11-24 12:30:30", "30"), ("2024-11-24 12:30:45", "60")):
        for _ in range(2):  # Plivo's retry of one DegradedStream is the same fact
            event = me.stream_event("DegradedStream", timestamp, BufferUsagePercentage=level)
            deliver(stream_status_app.lambda_handler, event, lambda_context)

    degraded = [detail for detail in published(table_stream) if isinstance(detail, schema.StreamDegraded)]

    assert [detail.level for detail in degraded] == ["30", "60"]
    assert len({detail.event_id for detail in degraded}) == 2


@pytest.mark.parametrize(("status", "detail_type"), [(503, "Call Placed"), (400, "Call Not Placed")])
def test_a_placement_plivo_may_have_or_refused(
    status: int, detail_type: str, table_stream: TableStream, plivo_rest: responses.RequestsMock
) -> None:
    place(plivo_rest, "hangup", status=status)

    (detail,) = published(table_stream)

    assert detail_type == detail.DETAIL_TYPE
    assert detail.call_uuid is None
    assert detail.metadata == METADATA
    if status == 503:
        assert detail.status == "unconfirmed"  # type: ignore[attr-defined]
    else:
        assert "400" in (detail.error or "")  # type: ignore[attr-defined]


def test_a_call_nobody_answered_completes_without_an_answer(
    table_stream: TableStream, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    place(plivo_rest, "hangup")
    deliver(hangup_app.lambda_handler, load_event("hangup_no_answer"), lambda_context)

    details = published(table_stream)

    assert kinds(details) == Counter({"Call Placed": 1, "Call Completed": 1})
    completed = of_type(details, schema.CallCompleted)
    assert (completed.outcome, completed.answered_at) == ("no_answer", None)
    assert completed.machine_detected is False
    assert completed.hangup_cause_code == 3000


def test_plivos_answer_time_stands_in_when_the_answer_webhook_never_came(
    table_stream: TableStream, lambda_context: Any
) -> None:
    deliver(hangup_app.lambda_handler, load_event("hangup_human"), lambda_context)

    completed = of_type(published(table_stream), schema.CallCompleted)

    assert completed.answered_at == "2024-11-24T12:30:08.000Z"
    assert completed.metadata == {}  # this placement is not ours (the seedless test never placed it)
