"""A wrong PLIVO_AUTH_ID forced past the template's AllowedPattern (an edited environment, an old template):
only the handlers that really call Plivo's REST API fail, with an error naming the variable; every webhook
that needs no REST call still answers Plivo 200, and no REST request ever leaves.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from functions.answer import app as answer_app
from functions.calls import app as calls_app
from functions.hangup import app as hangup_app
from functions.machine_detection import app as md_app
from functions.media import app as media_app
from functions.stream_status import app as stream_app
from functions.voicemail import app as voicemail_app
from tests.support import constants as c
from tests.support import seed
from tests.support.events import load_event
from voiceagent.store import open_store

Handler = Any

BAD_AUTH_IDS = [
    "MA123",  # too short: the plivo SDK refuses it too, but only when its client is built
    "MAabc-_ !@#$%^&*()12",  # 20 characters with the right prefix: the SDK's own check lets this through
    "XX" + "A" * 18,
]


@pytest.fixture(params=BAD_AUTH_IDS)
def bad_auth_id(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    value: str = request.param
    monkeypatch.setenv("PLIVO_AUTH_ID", value)
    return value


def _ok(handler: Handler, event: str, ctx: Any) -> None:
    assert handler.lambda_handler(load_event(event), ctx)["statusCode"] == 200, event


def test_webhooks_that_make_no_rest_call_still_answer_200(
    bad_auth_id: str, aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    _ok(answer_app, "answer_outbound", lambda_context)
    for event in (
        "stream_status_start_stream",
        "stream_status_degraded_stream",
        "stream_status_stop_stream",
    ):
        _ok(stream_app, event, lambda_context)
    _ok(md_app, "machine_detection_human", lambda_context)
    _ok(voicemail_app, "voicemail", lambda_context)
    _ok(hangup_app, "hangup_human", lambda_context)
    _ok(calls_app, "calls_report", lambda_context)

    assert len(plivo_rest.calls) == 0  # the REST client was never needed, so never built


def test_media_frames_flow_until_the_agent_needs_plivo(
    bad_auth_id: str, aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.answered(lambda_context)
    seed.streaming(lambda_context)
    for event in ("media_start", "media_speech", "media_silence", "media_dtmf_end_call"):
        _ok(media_app, event, lambda_context)

    _ok(media_app, "media_played_goodbye", lambda_context)  # the agent hangs up via REST: recorded, no crash
    assert len(plivo_rest.calls) == 0
    error = (open_store().calls.get_call(c.CALL_UUID) or {})["agent_call_control_error"]
    assert "PLIVO_AUTH_ID" in error
    assert bad_auth_id not in error


def _misconfigured(response: dict[str, Any], caplog: pytest.LogCaptureFixture, bad_auth_id: str) -> None:
    """A 500 that says what is wrong (no retry can fix it), and a log line naming the variable."""
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "service misconfigured"}
    (logged,) = [record for record in caplog.records if record.getMessage() == "configuration error"]
    error = str(getattr(logged, "error", ""))
    assert "PLIVO_AUTH_ID" in error
    assert "MA or SA followed by 18" in error
    assert bad_auth_id not in error  # the message explains; it does not echo the value


def test_placing_a_call_fails_naming_the_variable(
    bad_auth_id: str,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = calls_app.lambda_handler(load_event("calls_place"), lambda_context)

    _misconfigured(response, caplog, bad_auth_id)
    assert len(plivo_rest.calls) == 0


def test_a_voicemail_policy_that_calls_plivo_fails_naming_the_variable_and_stays_pending(
    bad_auth_id: str,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed.placement("hangup")
    seed.answered(lambda_context)

    response = md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)

    _misconfigured(response, caplog, bad_auth_id)
    assert len(plivo_rest.calls) == 0
    # Pending, not failed: once the setting is fixed, Plivo's retry (or a later one) takes the action over.
    assert (open_store().calls.get_call(c.CALL_UUID) or {})["policy_status"] == "pending"


def test_a_dropped_stream_needs_no_plivo_call(
    bad_auth_id: str, aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.answered(lambda_context)

    _ok(stream_app, "stream_status_dropped_stream", lambda_context)  # recovery is the XML's <Redirect>
    assert len(plivo_rest.calls) == 0
