from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from functions.calls import app
from tests.support import constants as c
from tests.support import plivo_api as api
from tests.support.events import load_event


def invoke(name: str, lambda_context: Any) -> tuple[int, dict[str, Any]]:
    response = app.lambda_handler(load_event(name), lambda_context)
    return response["statusCode"], json.loads(response["body"])


def placements(table_items: Any) -> list[dict[str, Any]]:
    return [item for item in table_items() if item["pk"].startswith("PLACEMENT#")]


def test_place_call_records_first_then_asks_plivo_through_the_sdk(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, table_items: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    status, body = invoke("calls_place", lambda_context)

    assert status == 202
    assert body["status"] == "requested"
    assert body["request_uuid"] == c.REQUEST_UUID
    (request,) = api.requests_to(plivo_rest, "POST", api.CREATE_CALL)
    sent = api.json_body(request)
    placement_id = body["placement_id"]
    base = f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}"
    assert sent["from"] == c.FROM_NUMBER
    assert sent["to"] == c.TO_NUMBER
    retries = "#rc=2&rp=5xx,ct,rt"  # Plivo's callback retry settings; its default never retries a 5xx
    assert sent["answer_url"] == f"{base}/plivo/answer?placement={placement_id}{retries}"
    assert sent["fallback_url"] == f"{base}/plivo/answer-fallback?placement={placement_id}{retries}"
    assert sent["hangup_url"] == f"{base}/plivo/hangup?placement={placement_id}{retries}"
    assert (
        sent["machine_detection_url"] == f"{base}/plivo/machine-detection?placement={placement_id}{retries}"
    )
    assert (sent["answer_method"], sent["fallback_method"], sent["hangup_method"]) == ("POST",) * 3
    assert sent["machine_detection"] == "true"  # transfer needs the callback
    assert sent["machine_detection_time"] == 5000
    assert sent["machine_detection_method"] == "POST"
    (placement,) = placements(table_items)
    assert placement["state"] == "requested"
    assert placement["request_uuid"] == c.REQUEST_UUID
    assert placement["policy"] == "transfer"
    assert placement["voicemail_message"].startswith("Hi, this is Acme")


def test_hangup_policy_lets_plivo_hang_up_on_machines(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)
    event = load_event("calls_place")
    event["body"] = json.dumps({"to": c.TO_NUMBER, "from": c.FROM_NUMBER})  # default policy: hangup

    assert app.lambda_handler(event, lambda_context)["statusCode"] == 202
    (request,) = api.requests_to(plivo_rest, "POST", api.CREATE_CALL)
    assert api.json_body(request)["machine_detection"] == "hangup"


def test_tuning_parameters_go_by_direct_json_post(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    status, _ = invoke("calls_place_with_tuning", lambda_context)

    assert status == 202
    (request,) = api.requests_to(plivo_rest, "POST", api.CREATE_CALL)
    sent = api.json_body(request)
    assert request.headers["Authorization"].startswith("Basic ")
    assert sent["machine_detection_initial_silence"] == 3000
    assert sent["machine_detection_maximum_speech_length"] == 4000
    assert sent["machine_detection_maximum_words"] == 4
    assert sent["machine_detection_initial_greeting"] == 2000
    assert sent["machine_detection_time"] == 3500
    assert sent["machine_detection"] == "true"
    assert parse_qs(urlsplit(sent["answer_url"]).query)["placement"]


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("calls_place_tuning_out_of_range", "tuning.maximum_words"),
        ("calls_place_unknown_field", "callback"),
        ("calls_place_not_json", "body"),
        ("calls_place_empty", "to"),
        ("calls_place_bad_idempotency_key", "placement_id"),
        ("calls_place_idempotency_keys_differ", "placement_id"),
    ],
)
def test_invalid_requests_are_400_and_nothing_is_placed(
    name: str,
    field: str,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    table_items: Any,
) -> None:
    status, body = invoke(name, lambda_context)

    assert status == 400
    assert field in body["message"]
    assert len(plivo_rest.calls) == 0
    assert table_items() == []


def test_rate_limited_create_is_retried_with_backoff(
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    backoff_sleeps: list[float],
    table_items: Any,
) -> None:
    plivo_rest.post(api.CREATE_CALL, json={"error": "too many requests"}, status=429)
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    status, body = invoke("calls_place", lambda_context)

    assert status == 202
    assert body["attempts"] == 2
    assert len(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)) == 2
    assert len(backoff_sleeps) == 1
    assert placements(table_items)[0]["plivo_attempts"] == 2


def _connection_refused() -> requests.exceptions.ConnectionError:
    """What requests raises when no TCP connection could be opened: Plivo never saw the request."""
    from urllib3.connection import HTTPSConnection
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    refused = NewConnectionError(
        HTTPSConnection("api.plivo.com"), "Failed to establish a new connection: [Errno 111] refused"
    )
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/Call/", refused))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "why"),
    [
        ({"json": {"error": "internal"}, "status": 500}, "500"),
        ({"json": {"error": "bad gateway"}, "status": 502}, "502"),
        ({"json": {"error": "unavailable"}, "status": 503}, "503"),
        ({"body": requests.exceptions.ReadTimeout("read timed out")}, "timed out"),
        ({"body": requests.exceptions.ConnectionError("Connection aborted: reset by peer")}, "aborted"),
    ],
    ids=["500", "502", "503", "read-timeout", "reset-after-send"],
)
def test_an_ambiguous_create_is_one_post_and_answers_202_unconfirmed(
    first: dict[str, Any],
    why: str,
    aws_stack: Any,
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
    table_items: Any,
) -> None:
    """Plivo may have created the call: never POST again (the SDK itself would re-POST a 5xx twice)."""
    plivo_rest.post(api.CREATE_CALL, **first)
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    status, body = invoke("calls_place", lambda_context)

    assert len(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)) == 1
    assert (status, body["status"], body["attempts"]) == (202, "unconfirmed", 1)
    assert why in body["error"]
    (placement,) = placements(table_items)
    assert placement["state"] == "unconfirmed"


def test_a_create_that_never_reached_plivo_is_posted_again(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, body=_connection_refused())
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    status, body = invoke("calls_place", lambda_context)

    assert len(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)) == 2
    assert (status, body["status"], body["attempts"]) == (202, "requested", 2)


def test_a_create_that_never_reaches_plivo_fails_for_sure(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, table_items: Any
) -> None:
    for _ in range(5):
        plivo_rest.post(api.CREATE_CALL, body=_connection_refused())

    status, body = invoke("calls_place", lambda_context)

    assert (status, body["status"], body["attempts"]) == (502, "failed", 5)
    assert placements(table_items)[0]["state"] == "failed"


def test_every_create_is_a_single_post_without_the_sdk(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    """Also without tuning parameters: the SDK's calls.create re-POSTs by itself on 5xx."""
    plivo_rest.post(api.CREATE_CALL, json={"error": "unavailable"}, status=503)
    event = load_event("calls_place")
    event["body"] = json.dumps({"to": c.TO_NUMBER, "from": c.FROM_NUMBER})

    response = app.lambda_handler(event, lambda_context)

    assert response["statusCode"] == 202
    (request,) = api.requests_to(plivo_rest, "POST", api.CREATE_CALL)
    assert request.headers["Authorization"].startswith("Basic ")
    assert api.json_body(request)["from"] == c.FROM_NUMBER


def test_connect_timeout_is_retried(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    status, body = invoke("calls_place", lambda_context)

    assert (status, body["attempts"]) == (202, 2)
    assert len(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)) == 2


def test_rejected_create_fails_without_retry(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json={"error": "invalid to number"}, status=400)

    status, body = invoke("calls_place", lambda_context)

    assert status == 502
    assert body["attempts"] == 1
    assert "invalid to number" in body["error"]


def test_an_accepted_create_without_request_uuid_is_unconfirmed_not_failed(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    """Plivo said yes: the call may ring. A "failed" here would invite the client to dial again."""
    plivo_rest.post(api.CREATE_CALL, json={"api_id": "x", "message": "call fired"}, status=201)

    status, body = invoke("calls_place", lambda_context)

    assert (status, body["status"]) == (202, "unconfirmed")
    assert "no request_uuid" in body["error"]


# ------------------------------------------------------------------------------------ idempotency keys


@pytest.mark.parametrize("name", ["calls_place_idempotent", "calls_place_idempotency_header"])
def test_a_repeated_post_with_the_same_key_never_dials_twice_and_returns_the_first_result(
    name: str, aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, table_items: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    first_status, first = invoke(name, lambda_context)
    again_status, again = invoke(name, lambda_context)

    assert len(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)) == 1
    assert (first_status, again_status) == (202, 202)
    assert first["placement_id"] == again["placement_id"] == c.IDEMPOTENCY_KEY
    assert again["request_uuid"] == first["request_uuid"] == c.REQUEST_UUID
    assert (first.get("repeated"), again["repeated"]) == (None, True)
    assert len(placements(table_items)) == 1
    (request,) = api.requests_to(plivo_rest, "POST", api.CREATE_CALL)
    assert f"placement={c.IDEMPOTENCY_KEY}" in api.json_body(request)["answer_url"]


def test_a_repeat_of_a_failed_placement_reports_the_failure_without_dialling(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json={"error": "invalid to number"}, status=400)

    first_status, first = invoke("calls_place_idempotent", lambda_context)
    again_status, again = invoke("calls_place_idempotent", lambda_context)

    assert (first_status, again_status) == (502, 502)
    assert again["error"] == first["error"]
    assert len(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)) == 1


def test_the_same_key_with_another_request_is_a_conflict(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)
    invoke("calls_place_idempotent", lambda_context)

    status, body = invoke("calls_place_idempotent_other_request", lambda_context)

    assert status == 409
    assert "placement_id" in body["message"]
    assert len(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)) == 1


def test_the_answer_webhook_confirms_an_unconfirmed_placement(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    from tests.support import seed
    from voiceagent.store import open_store

    seed.placement("hangup", state="unconfirmed")

    seed.answered(lambda_context)

    placement = open_store().placements.get(c.PLACEMENT_ID)
    assert placement is not None
    assert (placement["state"], placement["call_uuid"]) == ("confirmed", c.CALL_UUID)


# ---------------------------------------------------------------- a call to your own agent


def test_a_call_to_your_own_agent_keeps_its_urls_for_the_webhooks(
    agent_keys: dict[str, bytes], plivo_rest: responses.RequestsMock, lambda_context: Any, table_items: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    status, _ = invoke("calls_place_external_agent", lambda_context)

    assert status == 202
    (placement,) = placements(table_items)
    assert (placement["stream_url"], placement["agent_webhook_url"]) == (
        c.AGENT_STREAM_URL,
        c.AGENT_WEBHOOK_URL,
    )
    sent = api.json_body(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)[0])
    assert c.AGENT_STREAM_URL not in json.dumps(sent)  # Plivo learns it from the answer XML, with a token


def test_without_keys_of_its_own_a_call_cannot_stream_to_your_agent(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, table_items: Any
) -> None:
    status, body = invoke("calls_place_external_agent_without_keys", lambda_context)

    assert status == 400
    fields = [error["field"] for error in body["errors"]]
    assert fields == ["stream_url", "agent_webhook_url"]
    assert "StreamTokenSecretParameterName" in body["message"]
    assert "AgentWebhookSecretParameterName" in body["message"]
    assert len(plivo_rest.calls) == 0
    assert placements(table_items) == []


def test_a_stream_url_our_token_would_collide_with_is_refused(
    agent_keys: dict[str, bytes], lambda_context: Any
) -> None:
    status, body = invoke("calls_place_stream_url_invalid", lambda_context)
    assert status == 400
    (error,) = body["errors"]
    assert error["field"] == "stream_url"
    assert "wss://" in error["allowed"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"agent_webhook_url": None}, "agent_webhook_url", "policy agent on your own agent's stream needs"),
        ({"stream_url": None}, "agent_webhook_url", "only with stream_url"),
    ],
)
def test_the_agent_policy_and_the_webhook_go_with_an_agents_stream(
    changes: dict[str, Any],
    field: str,
    words: str,
    agent_keys: dict[str, bytes],
    plivo_rest: responses.RequestsMock,
    lambda_context: Any,
) -> None:
    from tests.support import make_events as me

    body = {k: v for k, v in {**me.EXTERNAL_AGENT_CALL, **changes}.items() if v is not None}
    response = app.lambda_handler(me.calls_event(json.dumps(body)), lambda_context)

    assert response["statusCode"] == 400
    (error,) = json.loads(response["body"])["errors"]
    assert error["field"] == field
    assert words in error["allowed"]
    assert len(plivo_rest.calls) == 0
