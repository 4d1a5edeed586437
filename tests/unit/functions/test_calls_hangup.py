"""POST /calls/{id}/hangup: an answered call is hung up, a ringing one cancelled, an ended or refused one
left alone, each through the one Plivo gateway and on the record."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from functions.calls import app
from functions.hangup import app as hangup_app
from tests.support import constants as c
from tests.support import plivo_api as api
from tests.support import seed
from tests.support.events import load_event
from voiceagent.clock import utcnow
from voiceagent.store import open_store

CANCEL = f"{api.ACCOUNT}/Request/{c.REQUEST_UUID}/"
CALLER = "arn:aws:iam::123456789012:user/campaign-runner"


def hang_up(lambda_context: Any, name: str = "calls_hangup") -> tuple[int, dict[str, Any]]:
    response = app.lambda_handler(load_event(name), lambda_context)
    return response["statusCode"], json.loads(response["body"])


def report(lambda_context: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        app.lambda_handler(load_event("calls_report_by_placement"), lambda_context)["body"]
    )
    return body


def test_an_answered_call_is_hung_up_and_the_report_says_who_asked(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")
    seed.answered(lambda_context)
    plivo_rest.delete(api.call_url(), status=204)

    status, body = hang_up(lambda_context)

    assert (status, body["result"], body["call_uuid"]) == (200, "hung_up", c.CALL_UUID)
    assert len(api.requests_to(plivo_rest, "DELETE", api.call_url())) == 1
    entry = next(e for e in report(lambda_context)["timeline"] if e["event"].startswith("hangup requested"))
    assert entry["detail"] == f"by {CALLER}: hung_up"


def test_a_call_that_has_ended_is_not_hung_up_again(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")
    seed.answered(lambda_context)
    hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)

    assert hang_up(lambda_context)[1]["result"] == "already_ended"
    assert len(plivo_rest.calls) == 0


def test_a_ringing_call_is_cancelled_by_its_request_uuid(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")
    plivo_rest.delete(CANCEL, status=204)

    status, body = hang_up(lambda_context, "calls_hangup_by_placement")

    assert (status, body["result"]) == (200, "cancelled")
    assert body == {
        "result": "cancelled",
        "placement_id": c.PLACEMENT_ID,
        "request_uuid": c.REQUEST_UUID,
        "call_uuid": None,
    }
    entry = next(e for e in report(lambda_context)["timeline"] if e["event"].startswith("cancel requested"))
    assert entry["detail"] == f"by {CALLER}: cancelled"


def test_a_call_answered_while_being_cancelled_is_hung_up_by_its_call_uuid(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")

    def answered_meanwhile(_request: Any) -> tuple[int, dict[str, str], str]:
        seed.answered(lambda_context)  # the answer webhook links the placement to its CallUUID
        return 404, {}, '{"error": "not found"}'

    plivo_rest.add_callback(responses.DELETE, CANCEL, callback=answered_meanwhile)
    plivo_rest.delete(api.call_url(), status=204)

    assert hang_up(lambda_context, "calls_hangup_by_placement")[1]["result"] == "hung_up"
    assert len(api.requests_to(plivo_rest, "DELETE", api.call_url())) == 1


def test_a_request_plivo_no_longer_knows_without_a_call_has_ended(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")
    plivo_rest.delete(CANCEL, status=404, json={"error": "not found"})

    assert hang_up(lambda_context, "calls_hangup_by_placement") == (
        200,
        {
            "result": "already_ended",
            "placement_id": c.PLACEMENT_ID,
            "request_uuid": c.REQUEST_UUID,
            "call_uuid": None,
        },
    )


@pytest.mark.parametrize(
    ("state", "values", "result"),
    [
        ("failed", {"error": "create_call failed"}, "not_placed"),
        ("placed", {}, "placing"),
    ],
)
def test_a_call_that_was_never_placed_has_nothing_to_hang_up(
    state: str,
    values: dict[str, str],
    result: str,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
) -> None:
    open_store().placements.create(c.PLACEMENT_ID, {"state": state, **values}, utcnow())

    status, body = hang_up(lambda_context, "calls_hangup_by_placement")

    assert (status, body["result"]) == (409, result)
    assert len(plivo_rest.calls) == 0


def test_plivo_failing_is_a_502_and_is_recorded(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")
    seed.answered(lambda_context)
    plivo_rest.delete(api.call_url(), status=401, json={"error": "authentication failed"})

    status, body = hang_up(lambda_context)

    assert status == 502
    assert body["message"].startswith("Plivo did not hang up: hangup failed after 1 attempt(s)")
    entry = next(e for e in report(lambda_context)["timeline"] if e["event"].startswith("hangup requested"))
    assert "failed: hangup failed" in entry["detail"]


def test_an_unknown_call_is_404(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    assert hang_up(lambda_context)[0] == 404
    assert len(plivo_rest.calls) == 0


def test_your_agent_reports_the_voicemail_left_as_it_hangs_up(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    """On your agent's stream we hear nothing: the agent says the message was left, so the outcome is
    voicemail_left as on our own route (the hangup webhook derives it from the same fact)."""
    seed.placement("agent")
    seed.answered(lambda_context)
    open_store().calls.update_call(c.CALL_UUID, utcnow(), facts={"machine_detection_result": "machine"})
    plivo_rest.delete(api.call_url(), status=204)

    status, body = hang_up(lambda_context, "calls_hangup_voicemail_left")
    hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)

    assert (status, body["result"]) == (200, "hung_up")
    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    assert record["voicemail_reported_by"] == CALLER
    assert record["outcome"] == "voicemail_left"
    entry = next(e for e in report(lambda_context)["timeline"] if e["event"] == "voicemail message finished")
    assert entry["detail"] == f"reported by your agent ({CALLER})"


def test_no_voicemail_to_report_where_no_machine_answered(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")
    seed.answered(lambda_context)

    status, body = hang_up(lambda_context, "calls_hangup_voicemail_left_no_machine")

    assert status == 409
    assert "no answering machine was detected" in body["message"]
    assert len(plivo_rest.calls) == 0  # and the call goes on


def test_a_hangup_body_that_is_not_ours_is_refused(aws_stack: Any, lambda_context: Any) -> None:
    event = load_event("calls_hangup")
    event["body"] = json.dumps({"voicemail_left": "yes please", "reason": "x"})

    response = app.lambda_handler(event, lambda_context)

    assert response["statusCode"] == 400
    fields = {error["field"] for error in json.loads(response["body"])["errors"]}
    assert fields == {"voicemail_left", "reason"}
