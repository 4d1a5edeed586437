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
    assert sent["answer_url"] == f"{base}/plivo/answer?placement={placement_id}"
    assert sent["hangup_url"] == f"{base}/plivo/hangup?placement={placement_id}"
    assert sent["machine_detection_url"] == f"{base}/plivo/machine-detection?placement={placement_id}"
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
    assert len(backoff_sleeps) == 1
    assert placements(table_items)[0]["plivo_attempts"] == 2


def test_ambiguous_create_failure_is_not_retried_so_nobody_is_called_twice(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any, table_items: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, body=requests.exceptions.ReadTimeout("read timed out"))
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    status, body = invoke("calls_place", lambda_context)

    assert status == 502
    assert body["status"] == "failed"
    assert "read timed out" in body["error"]
    assert len(api.requests_to(plivo_rest, "POST", api.CREATE_CALL)) == 1
    (placement,) = placements(table_items)
    assert placement["state"] == "failed"


def test_connect_timeout_is_retried(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)

    status, body = invoke("calls_place", lambda_context)

    assert (status, body["attempts"]) == (202, 2)


def test_rejected_create_fails_without_retry(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json={"error": "invalid to number"}, status=400)

    status, body = invoke("calls_place", lambda_context)

    assert status == 502
    assert body["attempts"] == 1
    assert "invalid to number" in body["error"]


def test_create_response_without_request_uuid_is_a_failure(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    plivo_rest.post(api.CREATE_CALL, json={"api_id": "x", "message": "call fired"}, status=201)

    status, body = invoke("calls_place", lambda_context)

    assert status == 502
    assert "no request_uuid" in body["error"]
