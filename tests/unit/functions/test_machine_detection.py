from __future__ import annotations

import json
from datetime import timedelta
from time import time
from typing import Any

import pytest
import responses
from botocore.stub import Stubber

from functions.machine_detection import app
from tests.support import constants as c
from tests.support import plivo_api as api
from tests.support import seed
from tests.support.events import load_event
from voiceagent.clock import iso, utcnow
from voiceagent.media import connections
from voiceagent.settings import get_settings
from voiceagent.store import open_store
from voiceagent.store.states import CallState

VOICEMAIL_URL = (
    f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}/plivo/voicemail?placement={c.PLACEMENT_ID}#rc=2&rp=5xx,ct,rt"
)


def detect(lambda_context: Any, name: str = "machine_detection_machine") -> dict[str, Any]:
    response: dict[str, Any] = app.lambda_handler(load_event(name), lambda_context)
    return response


def call() -> dict[str, Any]:
    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    return record


def test_hangup_policy_hangs_up_once_even_when_plivo_retries(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("hangup")
    seed.answered(lambda_context)
    plivo_rest.delete(api.call_url(), status=204)

    first, second = detect(lambda_context), detect(lambda_context)

    assert first["statusCode"] == second["statusCode"] == 200
    assert len(api.requests_to(plivo_rest, "DELETE", api.call_url())) == 1
    record = call()
    assert record["state"] == "machine_detected"
    assert record["policy_applied"] == "hangup"
    assert record["policy_status"] == "done"
    assert record["policy_result"] == "hung_up"
    assert record["if_machine"] == "continue"
    assert record["detection_ms"] >= 0


def test_hangup_of_a_call_plivo_already_ended_counts_as_done(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("hangup")
    plivo_rest.delete(api.call_url(), json={"error": "not found"}, status=404)

    detect(lambda_context)

    assert (call()["policy_status"], call()["policy_result"]) == ("done", "already_ended")


def test_transfer_policy_moves_the_a_leg_to_the_voicemail_xml_once(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("transfer")
    seed.answered(lambda_context)
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)

    detect(lambda_context)
    detect(lambda_context)

    (request,) = api.requests_to(plivo_rest, "POST", api.call_url())
    sent = api.json_body(request)
    assert {key: sent[key] for key in ("legs", "aleg_url", "aleg_method")} == {
        "legs": "aleg",
        "aleg_url": VOICEMAIL_URL,
        "aleg_method": "POST",
    }
    assert call()["policy_result"] == "transferred"


def test_agent_policy_switches_the_live_stream_to_voicemail_mode(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")
    seed.answered(lambda_context)
    seed.streaming(lambda_context)
    open_store().calls.update_call(c.CALL_UUID, utcnow(), facts={"stream_id": c.STREAM_ID})

    detect(lambda_context)
    detect(lambda_context)

    # Once: the retry did nothing. Plivo wants the stream named on clearAudio.
    assert json.loads(seed.frames_sent()) == {"event": "clearAudio", "streamId": c.STREAM_ID}
    assert len(plivo_rest.calls) == 0
    record = call()
    assert record["agent_mode"] == "voicemail"
    assert (record["policy_applied"], record["policy_result"]) == ("agent", "agent_notified")


def test_agent_policy_before_the_stream_started_sends_nothing_and_keeps_the_stream(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")
    seed.streaming(lambda_context)  # connected, but no start frame yet: nothing is playing

    detect(lambda_context)

    assert seed.frames_sent() == b""
    assert len(plivo_rest.calls) == 0
    assert (call()["agent_mode"], call()["policy_result"]) == ("voicemail", "agent_notified")


def test_agent_policy_without_a_live_stream_falls_back_to_transfer(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("agent")
    seed.answered(lambda_context)
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)

    detect(lambda_context)

    assert len(api.requests_to(plivo_rest, "POST", api.call_url())) == 1
    assert (call()["policy_applied"], call()["policy_result"]) == ("transfer_fallback", "transferred")


def detect_with_a_failing_connection(
    lambda_context: Any, plivo_rest: responses.RequestsMock, code: str, status: int
) -> dict[str, Any]:
    """The agent policy on a live stream whose management API answers ``code``: the clearAudio fails."""
    seed.placement("agent")
    seed.streaming(lambda_context)
    open_store().calls.update_call(c.CALL_UUID, utcnow(), facts={"stream_id": c.STREAM_ID})
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)
    client = connections.management_client(connections.management_endpoint(get_settings()))
    with Stubber(client) as stubber:
        stubber.add_client_error("post_to_connection", service_error_code=code, http_status_code=status)
        response = detect(lambda_context)
        stubber.assert_no_pending_responses()
    return response


def test_agent_policy_with_a_gone_connection_cleans_it_up_and_transfers(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, table_items: Any
) -> None:
    detect_with_a_failing_connection(lambda_context, plivo_rest, "GoneException", 410)

    assert call()["policy_applied"] == "transfer_fallback"
    assert "connection_id" not in call()
    assert not [item for item in table_items() if item["pk"].startswith("CONN#")]


def test_machine_detection_before_the_answer_is_recorded_uses_the_placement(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("transfer")
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)

    detect(lambda_context)
    seed.answered(lambda_context)  # the late answer adds facts but does not move the call back

    record = call()
    assert record["state"] == "machine_detected"
    assert record["policy_result"] == "transferred"
    assert record["from_number"] == c.FROM_NUMBER
    assert "detection_ms" not in record  # no answer time to measure from


def test_unknown_call_without_placement_gets_the_default_policy(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.delete(api.call_url(), status=204)

    detect(lambda_context, "machine_detection_no_placement")

    assert call()["policy_applied"] == "hangup"


def test_unknown_placement_is_noted_and_the_default_policy_applies(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.delete(api.call_url(), status=204)

    detect(lambda_context)

    assert call()["placement_unknown"] is True
    assert call()["policy_applied"] == "hangup"


def test_machine_detected_after_hangup_acts_on_nothing_and_corrects_the_outcome(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    from functions.hangup import app as hangup_app

    seed.placement("transfer")
    seed.answered(lambda_context)
    hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)
    assert call()["outcome"] == "human"

    detect(lambda_context)

    assert len(plivo_rest.calls) == 0
    assert call()["state"] == "completed"
    assert call()["outcome"] == "voicemail_hangup"


def test_human_result_is_recorded_and_nothing_is_done(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("hangup")
    seed.answered(lambda_context)

    assert detect(lambda_context, "machine_detection_human")["statusCode"] == 200

    assert len(plivo_rest.calls) == 0
    assert call()["state"] == "answered"
    assert call()["machine_detection_result"] == "human"


def test_rate_limited_hangup_is_retried_and_recorded(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, backoff_sleeps: list[float]
) -> None:
    seed.placement("hangup")
    plivo_rest.delete(api.call_url(), json={"error": "slow down"}, status=429)
    plivo_rest.delete(api.call_url(), status=204)

    detect(lambda_context)

    assert (call()["policy_result"], call()["policy_attempts"]) == ("hung_up", 2)
    assert len(backoff_sleeps) == 1


def test_server_errors_exhaust_retries_and_the_webhook_still_answers(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, backoff_sleeps: list[float]
) -> None:
    seed.placement("hangup")
    plivo_rest.delete(api.call_url(), json={"error": "internal"}, status=500)

    response = detect(lambda_context)

    assert response["statusCode"] == 200
    record = call()
    assert record["policy_status"] == "failed"
    assert record["policy_attempts"] == 5
    assert "hangup failed after 5 attempt(s)" in record["policy_error"]
    assert len(backoff_sleeps) == 4
    assert all(0 <= pause <= 2.0 for pause in backoff_sleeps)


def test_a_retry_takes_over_an_action_whose_owner_died(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement("hangup")
    long_ago = utcnow() - timedelta(minutes=5)
    open_store().calls.transition(
        c.CALL_UUID,
        CallState.MACHINE_DETECTED,
        long_ago,
        {"policy_status": "pending", "policy_claimed_at": iso(long_ago), "policy": "hangup"},
    )
    plivo_rest.delete(api.call_url(), status=204)

    detect(lambda_context)
    detect(lambda_context)

    assert len(api.requests_to(plivo_rest, "DELETE", api.call_url())) == 1
    assert call()["policy_status"] == "done"


def test_a_fresh_pending_action_is_left_to_its_owner(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    open_store().calls.transition(
        c.CALL_UUID,
        CallState.MACHINE_DETECTED,
        utcnow(),
        {"policy_status": "pending", "policy_claimed_at": iso(utcnow()), "policy": "hangup"},
    )

    detect(lambda_context)

    assert len(plivo_rest.calls) == 0
    assert call()["policy_status"] == "pending"


@pytest.mark.parametrize(
    ("name", "status"),
    [("machine_detection_bad_signature", 403), ("machine_detection_missing_call_uuid", 400)],
)
def test_bad_requests_change_nothing(
    name: str,
    status: int,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    table_items: Any,
) -> None:
    assert detect(lambda_context, name)["statusCode"] == status
    assert len(plivo_rest.calls) == 0
    assert table_items() == []


def test_the_applied_policy_is_counted_as_dimensions(
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed.placement("hangup")
    plivo_rest.delete(api.call_url(), status=204)

    detect(lambda_context)

    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')
    ]
    (applied,) = [m for m in metrics if "VoicemailPolicyApplied" in m]
    assert (applied["policy"], applied["result"], applied["stage"]) == ("hangup", "hung_up", c.STAGE)


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalServerError", 500), ("LimitExceededException", 429), ("ForbiddenException", 403)],
)
def test_agent_policy_with_a_failing_management_api_counts_it_and_transfers(
    code: str,
    status: int,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not Gone, but the frame did not arrive: logged, counted, and treated like no live stream (never a 500,
    never a policy left pending)."""
    response = detect_with_a_failing_connection(lambda_context, plivo_rest, code, status)

    assert response["statusCode"] == 200
    record = call()
    assert (record["policy_status"], record["policy_applied"]) == ("done", "transfer_fallback")
    assert record["connection_id"] == c.CONNECTION_ID  # not gone: the registry keeps it
    assert "posting to the connection failed" in caplog.messages
    assert '"ConnectionPostFailures"' in capsys.readouterr().out


@pytest.mark.parametrize("policy", ["hangup", "transfer"])
def test_a_plivo_client_that_cannot_be_built_is_a_recorded_failure_not_a_500(
    policy: str,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import plivo
    from plivo import exceptions as plivo_errors

    seed.placement(policy)
    seed.answered(lambda_context)

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise plivo_errors.AuthenticationError("the SDK refused the credentials")

    monkeypatch.setattr(plivo, "RestClient", refused)

    response = detect(lambda_context)

    assert response["statusCode"] == 200
    assert len(plivo_rest.calls) == 0
    record = call()
    assert record["policy_status"] == "failed"
    assert "Plivo client cannot be built" in record["policy_error"]


# ---------------------------------------------------------------- your own agent (an external stream)

EXTERNAL = {"stream_url": c.AGENT_STREAM_URL, "agent_webhook_url": c.AGENT_WEBHOOK_URL}


def notifications(plivo_rest: responses.RequestsMock) -> list[Any]:
    return api.requests_to(plivo_rest, "POST", c.AGENT_WEBHOOK_URL)


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceagent.agents import notification

    monkeypatch.setattr(notification, "_sleep", lambda _seconds: None)


def test_agent_policy_on_your_agents_stream_notifies_it_once_signed_and_retried(
    agent_keys: dict[str, bytes], plivo_rest: responses.RequestsMock, lambda_context: Any, no_waiting: None
) -> None:
    from voiceagent.agents.notification import verify

    seed.placement(
        "agent", voicemail_message="Hi, this is Acme.", metadata={"campaign": "spring"}, **EXTERNAL
    )
    seed.answered(lambda_context)
    open_store().calls.update_call(c.CALL_UUID, utcnow(), facts={"stream_id": c.STREAM_ID})
    plivo_rest.post(c.AGENT_WEBHOOK_URL, status=503)
    plivo_rest.post(c.AGENT_WEBHOOK_URL, status=200)

    detect(lambda_context)
    detect(lambda_context)  # Plivo's retry: nothing more

    first, second = notifications(plivo_rest)
    assert first.body == second.body  # the same notification, signed again for each attempt
    assert verify(
        agent_keys["webhook"], second.body, second.headers["X-Voiceagent-Signature"], now=int(time())
    )
    body = json.loads(second.body)
    assert (body["call_uuid"], body["stream_id"], body["metadata"]) == (
        c.CALL_UUID,
        c.STREAM_ID,
        {"campaign": "spring"},
    )
    assert body["voicemail"]["message"] == "Hi, this is Acme."
    assert (body["policy"], body["policy_applied"], body["if_machine"]) == ("agent", "agent", "continue")
    assert not api.requests_to(plivo_rest, "POST", api.call_url())  # no transfer
    record = call()
    assert (record["policy_applied"], record["policy_result"]) == ("agent", "agent_notified")
    assert record["agent_notification_status"] == "delivered"
    assert [attempt["status"] for attempt in record["agent_notification_attempts"]] == [503, 200]
    assert record["agent_webhook"] == c.AGENT_WEBHOOK_URL
    assert record["agent_mode"] == "voicemail"


@pytest.mark.parametrize("answers", [(500, 502, 503), (404,)])
def test_a_notification_that_fails_for_good_falls_back_to_transfer(
    answers: tuple[int, ...],
    agent_keys: dict[str, bytes],
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    no_waiting: None,
) -> None:
    seed.placement("agent", **EXTERNAL)
    seed.answered(lambda_context)
    for status in answers:
        plivo_rest.post(c.AGENT_WEBHOOK_URL, status=status)
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)

    detect(lambda_context)

    assert len(notifications(plivo_rest)) == len(answers)
    assert len(api.requests_to(plivo_rest, "POST", api.call_url())) == 1
    record = call()
    assert (record["policy_applied"], record["policy_result"]) == ("transfer_fallback", "transferred")
    assert record["agent_notification_status"] == "failed"
    assert len(record["agent_notification_attempts"]) == len(answers)


def test_the_stacks_own_agent_urls_serve_calls_that_name_none(
    agent_keys: dict[str, bytes],
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_STREAM_URL", "wss://stack-agent.example.com/plivo")
    monkeypatch.setenv("AGENT_WEBHOOK_URL", "https://stack-agent.example.com/voicemail")
    get_settings.cache_clear()
    seed.placement("agent")
    seed.answered(lambda_context)
    plivo_rest.post("https://stack-agent.example.com/voicemail", status=202)

    detect(lambda_context)

    assert len(api.requests_to(plivo_rest, "POST", "https://stack-agent.example.com/voicemail")) == 1
    assert call()["policy_result"] == "agent_notified"


def test_no_agent_webhook_anywhere_falls_back_to_transfer_without_a_notification(
    agent_keys: dict[str, bytes], plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    seed.placement(
        "agent", stream_url=c.AGENT_STREAM_URL
    )  # POST /calls refuses this; an older record might not
    seed.answered(lambda_context)
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)

    detect(lambda_context)

    assert call()["policy_applied"] == "transfer_fallback"
    assert "agent_notification_status" not in call()


def test_an_unreadable_signing_key_falls_back_to_transfer(
    agent_keys: dict[str, bytes],
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
) -> None:
    aws_stack["ssm"].delete_parameter(Name=c.AGENT_WEBHOOK_SECRET_PARAM)
    seed.placement("agent", **EXTERNAL)
    seed.answered(lambda_context)
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)

    detect(lambda_context)

    assert notifications(plivo_rest) == []
    record = call()
    assert (record["agent_notification_status"], record["policy_applied"]) == ("failed", "transfer_fallback")
    assert c.AGENT_WEBHOOK_SECRET_PARAM in record["agent_notification_result"]
