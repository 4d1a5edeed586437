from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from tests.support.events import load_event
from voiceagent.http_api import MalformedRequest, form_params, public_url, request_url, route_path


def event(**overrides: Any) -> APIGatewayProxyEventV2:
    raw = load_event("answer_outbound")
    raw.update(overrides)
    return APIGatewayProxyEventV2(raw)


def test_named_stage_is_stripped_from_the_route_but_kept_in_the_public_url() -> None:
    request = event()
    assert route_path(request) == "/plivo/answer"
    assert request_url(request).startswith(
        "https://abcdef1234.execute-api.us-east-1.amazonaws.com/dev/plivo/answer?"
    )


def test_default_stage_has_no_prefix() -> None:
    raw = load_event("answer_outbound")
    raw["rawPath"] = "/plivo/answer"
    raw["requestContext"]["stage"] = "$default"
    request = APIGatewayProxyEventV2(raw)
    assert route_path(request) == "/plivo/answer"
    assert (
        public_url(request, "/plivo/hangup")
        == "https://abcdef1234.execute-api.us-east-1.amazonaws.com/plivo/hangup"
    )


def test_json_body_is_accepted_as_a_fallback() -> None:
    body = json.dumps({"CallUUID": "abc", "Duration": 12, "Ok": True, "Nothing": None, "Nested": {"b": 1}})
    params = form_params(
        event(body=body, isBase64Encoded=False, headers={"content-type": "application/json"})
    )
    assert params == {
        "CallUUID": ["abc"],
        "Duration": ["12"],
        "Ok": ["true"],
        "Nothing": [""],
        "Nested": ['{"b":1}'],
    }


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("[1, 2]", "application/json", "must be an object"),
        ("{broken", "application/x-www-form-urlencoded", "neither a form nor JSON"),
        (json.dumps({f"k{i}": i for i in range(300)}), "application/json", "too many fields"),
        ("&".join(f"k{i}=v" for i in range(300)), "application/x-www-form-urlencoded", "too many fields"),
    ],
)
def test_unreadable_bodies_are_malformed(body: str, content_type: str, message: str) -> None:
    with pytest.raises(MalformedRequest, match=message):
        form_params(event(body=body, isBase64Encoded=False, headers={"content-type": content_type}))


def test_empty_body_is_an_empty_form() -> None:
    assert form_params(event(body=None, isBase64Encoded=False)) == {}


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedRequest, match="neither a form nor JSON"):
        form_params(
            event(body="[" * 50_000, isBase64Encoded=False, headers={"content-type": "application/json"})
        )


@pytest.mark.parametrize("field", ["Duration", "BillDuration", "HangupCauseCode"])
def test_numbers_too_large_for_dynamodb_are_invalid(field: str) -> None:
    from voiceagent.plivo.webhooks import HangupWebhook, parse_webhook
    from voiceagent.validation import InvalidRequest

    with pytest.raises(InvalidRequest, match=f"{field}: '1111.*' is not allowed; a whole number from 0 to"):
        parse_webhook(HangupWebhook, {"CallUUID": ["c1"], field: ["1" * 39]})


def test_empty_durations_mean_absent_and_negative_ones_are_invalid() -> None:
    from voiceagent.plivo.webhooks import HangupWebhook, parse_webhook
    from voiceagent.validation import InvalidRequest

    hangup = parse_webhook(HangupWebhook, {"CallUUID": ["c1"], "Duration": [""], "BillDuration": [""]})
    assert (hangup.duration, hangup.bill_duration) == (None, None)
    with pytest.raises(InvalidRequest, match="Duration: '-1' is not allowed; a whole number from 0 to"):
        parse_webhook(HangupWebhook, {"CallUUID": ["c1"], "Duration": ["-1"]})
