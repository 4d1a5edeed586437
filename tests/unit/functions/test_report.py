"""A whole call played through the real handlers, then read back as a report (GET /calls/{uuid} and CLI)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from functions.calls import app as calls_app
from functions.hangup import app as hangup_app
from functions.machine_detection import app as md_app
from functions.stream_connect import app as connect_app
from functions.stream_status import app as stream_app
from functions.voicemail import app as voicemail_app
from tests.support import constants as c
from tests.support import plivo_api as api
from tests.support import seed
from tests.support.events import load_event
from voiceagent.clock import utcnow
from voiceagent.store import open_store
from voiceagent_cli.main import main


@pytest.fixture
def voicemail_call(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM_RECOVERY_MAX_ATTEMPTS", "0")
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)
    seed.placement("transfer")
    seed.answered(lambda_context)
    connect_app.lambda_handler(load_event("stream_connect"), lambda_context)
    for name in ("stream_status_start_stream", "stream_status_degraded_stream"):
        stream_app.lambda_handler(load_event(name), lambda_context)
    md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)
    voicemail_app.lambda_handler(load_event("voicemail"), lambda_context)
    stream_app.lambda_handler(load_event("stream_status_stop_stream"), lambda_context)
    connect_app.lambda_handler(load_event("stream_disconnect"), lambda_context)
    hangup_app.lambda_handler(load_event("hangup_end_of_xml"), lambda_context)


def get_report(lambda_context: Any, name: str = "calls_report") -> tuple[int, dict[str, Any]]:
    response = calls_app.lambda_handler(load_event(name), lambda_context)
    return response["statusCode"], json.loads(response["body"])


def test_report_reads_like_the_console_stream_log_plus_our_outcome(
    voicemail_call: None, lambda_context: Any
) -> None:
    status, report = get_report(lambda_context)

    assert status == 200
    assert (report["state"], report["outcome"], report["policy"]) == (
        "completed",
        "voicemail_left",
        "transfer",
    )
    (stream,) = report["streams"]
    assert stream == {
        "stream_id": c.STREAM_ID,
        "start": "2024-11-24T12:30:09.000Z",
        "end": "2024-11-24T12:31:10.000Z",
        "duration_seconds": 61,
        "hangup_reason": "Call hangup",
        "degradations": 1,
        "last_degradation_level": "60",
        "drops": 0,
        "last_error": None,
    }
    events = [entry["event"] for entry in report["timeline"]]
    for expected in (
        "placed",
        "answered",
        "stream connected",
        "stream started (StartStream)",
        "stream degraded (DegradedStream)",
        "machine detected",
        "voicemail policy",
        "voicemail XML served",
        "stream stopped (StopStream)",
        "stream disconnected",
        "hangup",
    ):
        assert expected in events
    offsets = [entry["offset_seconds"] for entry in report["timeline"]]
    assert offsets == sorted(offsets)
    assert offsets[0] == 0
    policy = next(entry for entry in report["timeline"] if entry["event"] == "voicemail policy")
    assert policy["detail"] == "transfer: transferred (1 attempt(s))"
    hangup = next(entry for entry in report["timeline"] if entry["event"] == "hangup")
    assert "outcome=voicemail_left" in hangup["detail"]
    voicemail = report["voicemail"]
    assert (voicemail["policy"], voicemail["beep"], voicemail["outcome"]) == (
        "transfer",
        "Plivo's <Wait silence>",
        "voicemail_left",
    )
    assert voicemail["xml_served_at"]
    assert voicemail["message_started_at"] is None  # Plivo's to know


def test_unknown_call_is_404(aws_stack: Any, lambda_context: Any) -> None:
    status, body = get_report(lambda_context)
    assert status == 404
    assert body["message"] == "no such call: give the placement id, the request_uuid or the CallUUID"


def test_malformed_id_is_400_naming_what_is_allowed(aws_stack: Any, lambda_context: Any) -> None:
    status, body = get_report(lambda_context, "calls_report_invalid_uuid")

    assert status == 400
    assert body["errors"] == [
        {
            "field": "id",
            "value": "'no$such*id'",
            "allowed": "the placement id (pl-…), the request_uuid POST /calls answered, or the CallUUID: "
            "letters, digits, '-', '_' and '.', up to 64 characters",
        }
    ]


@pytest.mark.parametrize("name", ["calls_report", "calls_report_by_placement", "calls_report_by_request"])
def test_a_call_is_found_by_any_id_its_user_was_given(
    name: str, voicemail_call: None, lambda_context: Any
) -> None:
    status, report = get_report(lambda_context, name)

    assert status == 200
    assert report["ids"] == {
        "placement_id": c.PLACEMENT_ID,
        "request_uuid": c.REQUEST_UUID,
        "call_uuid": c.CALL_UUID,
    }
    assert report["outcome"] == "voicemail_left"


def test_the_report_says_who_answered_who_hung_up_and_when(voicemail_call: None, lambda_context: Any) -> None:
    _, report = get_report(lambda_context)

    assert report["answered_by"] == "machine"
    assert report["in_progress"] is False
    assert report["answered_at"]
    assert report["ended_at"]
    assert report["placed_at"]
    assert report["hangup"] == {
        "source": "Plivo",
        "by": "Plivo (end of the XML, machine detection, or a timeout)",
        "cause": "NORMAL_CLEARING",
        "cause_code": 4010,
        "cause_name": "End Of XML Instructions",
    }


def test_a_ringing_call_is_reported_from_its_placement(aws_stack: Any, lambda_context: Any) -> None:
    seed.placement("agent")
    open_store().placements.update(c.PLACEMENT_ID, utcnow(), state="requested", request_uuid=c.REQUEST_UUID)

    status, report = get_report(lambda_context, "calls_report_by_request")

    assert status == 200
    assert (report["state"], report["outcome"], report["answered_by"]) == ("placed", None, "unknown")
    assert report["in_progress"] is True
    assert report["ids"] == {
        "placement_id": c.PLACEMENT_ID,
        "request_uuid": c.REQUEST_UUID,
        "call_uuid": None,
    }
    assert [entry["event"] for entry in report["timeline"]] == ["placed", "Plivo accepted the call"]
    assert report["streams"] == []


def test_a_call_plivo_refused_is_reported_as_not_placed(aws_stack: Any, lambda_context: Any) -> None:
    seed.placement("agent")
    open_store().placements.update(c.PLACEMENT_ID, utcnow(), state="failed", error="create_call failed: 400")

    _, report = get_report(lambda_context, "calls_report_by_placement")

    assert (report["state"], report["outcome"], report["answered_by"]) == (
        "not_placed",
        "not_placed",
        "nobody",
    )
    assert report["error"] == "create_call failed: 400"
    assert report["timeline"][-1]["event"] == "not placed"


def test_report_command_prints_a_table(
    voicemail_call: None,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}"

    def via_api_gateway(request: Any) -> tuple[int, dict[str, str], str]:
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256")
        response = calls_app.lambda_handler(load_event("calls_report"), lambda_context)
        return response["statusCode"], {"content-type": "application/json"}, response["body"]

    plivo_rest.add_callback(responses.GET, f"{base}/calls/{c.CALL_UUID}", callback=via_api_gateway)
    capsys.readouterr()

    assert main(["report", c.CALL_UUID, "--api-url", base]) == 0

    table = capsys.readouterr().out
    assert f"call {c.CALL_UUID}  placement {c.PLACEMENT_ID}  request {c.REQUEST_UUID}" in table
    assert "state=completed  outcome=voicemail_left  answered by machine" in table
    assert "stream degraded (DegradedStream)" in table
    assert "Call hangup" in table


def test_report_command_json_and_errors(
    plivo_rest: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    base = f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}"
    plivo_rest.get(f"{base}/calls/{c.CALL_UUID}", json={"message": "no such call"}, status=404)

    assert main(["report", c.CALL_UUID, "--api-url", base, "--no-sign", "--json"]) == 1
    assert "no such call" in capsys.readouterr().err


def test_the_report_of_a_call_on_your_agents_stream_shows_the_notification(
    agent_keys: dict[str, bytes], plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent", stream_url=c.AGENT_STREAM_URL, agent_webhook_url=c.AGENT_WEBHOOK_URL)
    seed.answered(lambda_context)
    plivo_rest.post(c.AGENT_WEBHOOK_URL, status=204)
    md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)

    report = json.loads(calls_app.lambda_handler(load_event("calls_report"), lambda_context)["body"])

    agent = report["agent"]
    assert agent["stream_url"] == "wss://agent.example.com/plivo"  # shown without its query
    assert (agent["webhook"], agent["notification"]) == (c.AGENT_WEBHOOK_URL, "delivered")
    assert [attempt["status"] for attempt in agent["attempts"]] == [204]
    (entry,) = [e for e in report["timeline"] if e["event"] == "your agent notified"]
    assert entry["detail"] == f"{c.AGENT_WEBHOOK_URL}: delivered after 1 attempt(s): 204"
    assert report["voicemail"]["policy"] == "agent"


def test_the_report_of_a_call_on_our_route_has_no_agent_section(aws_stack: Any, lambda_context: Any) -> None:
    seed.placement("agent")
    seed.answered(lambda_context)
    report = json.loads(calls_app.lambda_handler(load_event("calls_report"), lambda_context)["body"])
    assert report["agent"] is None
