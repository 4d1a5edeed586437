from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest

from functions.answer import app
from tests.support import constants as c
from tests.support.events import load_event
from voiceagent.credentials import derive_stream_token_key
from voiceagent.store import open_store
from voiceagent.streams import tokens as stream_token


def invoke(name: str, lambda_context: Any, **overrides: Any) -> dict[str, Any]:
    event = load_event(name)
    event.update(overrides)
    response: dict[str, Any] = app.lambda_handler(event, lambda_context)
    return response


def stream_element(response: dict[str, Any]) -> ElementTree.Element:
    root = ElementTree.fromstring(response["body"])
    assert root.tag == "Response"
    stream, redirect = list(root)  # the <Redirect> runs when the stream ends: see test_stream_ended
    assert (stream.tag, redirect.tag) == ("Stream", "Redirect")
    return stream


def test_answer_returns_stream_xml_with_every_attribute(aws_stack: Any, lambda_context: Any) -> None:
    response = invoke("answer_outbound", lambda_context)

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/xml"
    stream = stream_element(response)
    assert stream.attrib == {
        "bidirectional": "true",
        "audioTrack": "inbound",
        "contentType": "audio/x-mulaw;rate=8000",
        "keepCallAlive": "true",
        "streamTimeout": "3600",
        "statusCallbackUrl": f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}/plivo/stream-status#rc=2&rp=5xx,ct,rt",
        "statusCallbackMethod": "POST",
    }


def test_stream_url_carries_a_verifiable_short_lived_token_and_no_secret(
    aws_stack: Any, lambda_context: Any
) -> None:
    stream = stream_element(invoke("answer_outbound", lambda_context))
    url = urlsplit((stream.text or "").strip())
    assert f"{url.scheme}://{url.netloc}{url.path}" == c.WEBSOCKET_URL
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert set(query) == {"call_uuid", "expires", "jti", "token"}
    assert c.TEST_AUTH_TOKEN not in (stream.text or "")
    key = derive_stream_token_key(c.TEST_AUTH_TOKEN)
    now = int(query["expires"]) - 300
    assert stream_token.verify(key, query, now) == stream_token.VerifiedToken(c.CALL_UUID, query["jti"])
    with pytest.raises(stream_token.StreamTokenError):
        stream_token.verify(key, query, int(query["expires"]) + 1)


def test_answer_records_the_call(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    invoke("answer_outbound", lambda_context)

    (call,) = table_items()
    assert call["pk"] == f"CALL#{c.CALL_UUID}"
    assert call["state"] == "answered"
    assert call["request_uuid"] == c.REQUEST_UUID
    assert call["placement_id"] == c.PLACEMENT_ID
    assert call["from_number"] == c.FROM_NUMBER
    assert call["to_number"] == c.TO_NUMBER
    assert call["custom_headers"] == {"X-PH-Campaign": "spring-renewals"}
    assert call["expires_at"] > 0


def test_repeated_answer_webhook_is_idempotent(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    first = invoke("answer_outbound", lambda_context)
    before = table_items()
    second = invoke("answer_outbound", lambda_context)

    assert second["statusCode"] == 200
    assert stream_element(second).attrib == stream_element(first).attrib
    after = table_items()
    assert len(after) == 1
    assert after[0]["answered_at"] == before[0]["answered_at"]
    assert after[0]["state"] == "answered"


def test_answer_after_hangup_does_not_move_the_call_back(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    from voiceagent.clock import utcnow
    from voiceagent.store import open_store
    from voiceagent.store.states import CallState

    open_store().calls.transition(c.CALL_UUID, CallState.COMPLETED, utcnow(), {"hangup_cause": "NORMAL"})
    response = invoke("answer_outbound", lambda_context)

    assert response["statusCode"] == 200
    (call,) = table_items()
    assert call["state"] == "completed"
    assert call["from_number"] == c.FROM_NUMBER  # the late answer still adds what it knows


def test_inbound_answer_with_plain_body(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    response = invoke("answer_inbound_plain_body", lambda_context)

    assert response["statusCode"] == 200
    (call,) = table_items()
    assert call["direction"] == "inbound"
    assert "request_uuid" not in call


def test_any_of_several_signatures_may_match(aws_stack: Any, lambda_context: Any) -> None:
    assert invoke("answer_several_signatures", lambda_context)["statusCode"] == 200


def test_custom_domain_uses_the_configured_public_base_url(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceagent.settings import get_settings

    monkeypatch.setenv("PUBLIC_BASE_URL", c.CUSTOM_DOMAIN_BASE)
    get_settings.cache_clear()
    response = invoke("answer_custom_domain", lambda_context)

    assert response["statusCode"] == 200
    assert (
        stream_element(response).attrib["statusCallbackUrl"]
        == f"{c.CUSTOM_DOMAIN_BASE}/plivo/stream-status#rc=2&rp=5xx,ct,rt"
    )


def test_custom_domain_event_fails_without_the_base_url(aws_stack: Any, lambda_context: Any) -> None:
    assert invoke("answer_custom_domain", lambda_context)["statusCode"] == 403


@pytest.mark.parametrize("name", ["answer_bad_signature", "answer_missing_signature"])
def test_bad_or_missing_signature_is_403_and_stores_nothing(
    name: str, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    response = invoke(name, lambda_context)

    assert response["statusCode"] == 403
    assert json.loads(response["body"]) == {"message": "forbidden"}
    assert table_items() == []


def test_signature_over_a_tampered_body_is_403(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    event = load_event("answer_outbound")
    form = base64.b64decode(event["body"]).decode().replace(c.TO_NUMBER, "19005550123")
    event["body"] = base64.b64encode(form.encode()).decode()

    assert app.lambda_handler(event, lambda_context)["statusCode"] == 403
    assert table_items() == []


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        (
            "answer_missing_call_uuid",
            400,
            "CallUUID: missing; required: a Plivo id: letters, digits and '-', up to 64 characters",
        ),
        (
            "answer_invalid_call_uuid",
            400,
            "CallUUID: '../../etc/passwd' is not allowed; a Plivo id: letters, digits and '-', up to 64 "
            "characters",
        ),
        ("answer_malformed_base64", 400, "body is not valid base64"),
        ("answer_not_utf8", 400, "body is not UTF-8"),
        ("answer_oversized_body", 413, "body exceeds 65536 bytes"),
        ("answer_wrong_method", 405, "method not allowed"),
        ("unknown_path", 404, "not found"),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_store_nothing(
    name: str, status: int, message: str, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    response = invoke(name, lambda_context)

    assert response["statusCode"] == status
    assert json.loads(response["body"])["message"] == message
    assert table_items() == []


def test_wrong_method_names_the_allowed_one(aws_stack: Any, lambda_context: Any) -> None:
    response = invoke("answer_wrong_method", lambda_context)
    assert response["headers"]["Allow"] == "POST"


def test_missing_configuration_names_the_variable(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from voiceagent.settings import get_settings

    monkeypatch.delenv("CALLS_TABLE_NAME")
    get_settings.cache_clear()

    response = invoke("answer_outbound", lambda_context)

    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "service misconfigured"}
    (log,) = [record for record in caplog.records if record.getMessage() == "configuration error"]
    assert "CALLS_TABLE_NAME" in log.error  # type: ignore[attr-defined]


def test_the_fallback_url_serves_the_same_stream_xml(
    aws_stack: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plivo fetches fallback_url when the answer URL kept failing: the call must still get its stream."""
    response = invoke("answer_fallback", lambda_context)

    assert response["statusCode"] == 200
    assert stream_element(response).attrib == stream_element(invoke("answer_outbound", lambda_context)).attrib
    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    assert (record["state"], record["placement_id"]) == ("answered", c.PLACEMENT_ID)
    assert '"AnswersByFallbackUrl"' in capsys.readouterr().out


def test_a_plivo_callback_retry_count_of_zero_still_says_so(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceagent.settings import get_settings

    monkeypatch.setenv("PLIVO_CALLBACK_RETRIES", "0")
    get_settings.cache_clear()

    url = stream_element(invoke("answer_outbound", lambda_context)).attrib["statusCallbackUrl"]

    assert url.endswith("/plivo/stream-status#rc=0&rp=5xx,ct,rt")


# ---------------------------------------------------------------- your own agent takes the stream


def _stream_query(stream: ElementTree.Element) -> tuple[str, dict[str, str]]:
    url = urlsplit((stream.text or "").strip())
    return f"{url.scheme}://{url.netloc}{url.path}", {k: v[0] for k, v in parse_qs(url.query).items()}


def test_a_call_placed_with_a_stream_url_streams_to_your_agent_with_a_token_it_can_check(
    agent_keys: dict[str, bytes], lambda_context: Any
) -> None:
    """Same <Stream> (keepCallAlive, status callbacks to us, the <Redirect>), another URL; its token is keyed
    with the dedicated key, which the agent has — never the Plivo auth token."""
    from tests.support import seed
    from voiceagent.agent_urls import shown_url

    seed.placement("agent", stream_url=c.AGENT_STREAM_URL, agent_webhook_url=c.AGENT_WEBHOOK_URL)

    stream = stream_element(invoke("answer_outbound", lambda_context))

    base, query = _stream_query(stream)
    assert base == shown_url(c.AGENT_STREAM_URL)
    assert query["tenant"] == "acme"  # the agent's own query is kept; the token follows it
    token = {name: query[name] for name in ("call_uuid", "expires", "jti", "token")}
    assert (
        stream_token.verify(agent_keys["stream"], token, int(query["expires"]) - 1).call_uuid == c.CALL_UUID
    )
    with pytest.raises(stream_token.StreamTokenError):
        stream_token.verify(derive_stream_token_key(c.TEST_AUTH_TOKEN), token, int(query["expires"]) - 1)
    assert stream.attrib["keepCallAlive"] == "true"
    assert stream.attrib["statusCallbackUrl"].startswith(f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}/plivo/")
    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    assert (record["stream_to"], record["stream_url"]) == ("external_agent", c.AGENT_STREAM_URL)


def test_the_stacks_agent_url_takes_calls_that_name_none_and_ours_is_the_default(
    agent_keys: dict[str, bytes], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceagent.settings import get_settings

    assert _stream_query(stream_element(invoke("answer_outbound", lambda_context)))[0] == c.WEBSOCKET_URL
    monkeypatch.setenv("AGENT_STREAM_URL", "wss://stack-agent.example.com/plivo")
    get_settings.cache_clear()
    response = invoke("answer_inbound_plain_body", lambda_context)
    assert _stream_query(stream_element(response))[0] == "wss://stack-agent.example.com/plivo"
