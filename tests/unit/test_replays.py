"""Replays of signed webhooks: every signed route answers a nonce that already took effect with the response
it got the first time, and does nothing else; a nonce is remembered only once its request succeeded."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import responses

from functions.answer import app as answer_app
from functions.hangup import app as hangup_app
from functions.machine_detection import app as md_app
from functions.stream_status import app as stream_status_app
from functions.voicemail import app as voicemail_app
from tests.support import constants as c
from tests.support import make_events as me
from tests.support import plivo_api as api
from tests.support import seed
from tests.support.events import load_event
from voiceagent import aws
from voiceagent.store import open_store

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
SIGNED_ROUTES: dict[str, tuple[Handler, str]] = {
    "answer": (answer_app.lambda_handler, "answer_outbound"),
    "machine_detection": (md_app.lambda_handler, "machine_detection_machine"),
    "voicemail": (voicemail_app.lambda_handler, "voicemail"),
    "stream_status": (stream_status_app.lambda_handler, "stream_status_dropped_stream"),
    "hangup": (hangup_app.lambda_handler, "hangup_human"),
    "stream_ended": (answer_app.lambda_handler, "stream_ended"),
}


@pytest.fixture
def permissive_plivo(plivo_rest: responses.RequestsMock) -> responses.RequestsMock:
    plivo_rest.delete(api.call_url(), status=204)
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)
    return plivo_rest


@pytest.mark.parametrize("route", sorted(SIGNED_ROUTES))
def test_a_replay_on_any_signed_route_gets_the_first_answer_and_does_nothing(
    route: str,
    aws_stack: Any,
    lambda_context: Any,
    permissive_plivo: responses.RequestsMock,
    dynamodb_calls: Counter[str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAM_RECOVERY_MAX_ATTEMPTS", "0")
    seed.placement("transfer")
    if route != "answer":
        seed.answered(lambda_context)
    handler, event_name = SIGNED_ROUTES[route]
    first = handler(load_event(event_name), lambda_context)
    assert first["statusCode"] == 200
    asked_plivo = len(permissive_plivo.calls)
    dynamodb_calls.clear()
    capsys.readouterr()

    replay = handler(load_event(event_name), lambda_context)

    assert (replay["statusCode"], replay["body"]) == (first["statusCode"], first["body"])
    assert replay["headers"]["Content-Type"] == first["headers"]["Content-Type"]
    assert sum(dynamodb_calls[name] for name in WRITES) == 0
    assert dynamodb_calls["GetItem"] == 1  # the nonce, and nothing of the call
    assert len(permissive_plivo.calls) == asked_plivo
    assert '"WebhookReplays"' in capsys.readouterr().out
    assert "replayed webhook answered with its first response" in caplog.messages


def test_a_replayed_answer_after_the_call_ended_mints_no_new_stream_token(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    """The hijack: replaying a captured answer used to mint a fresh token (expiry = now + TTL) at will."""
    first = answer_app.lambda_handler(load_event("answer_outbound"), lambda_context)
    hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)
    before = table_items(nonces=True)

    replay = answer_app.lambda_handler(load_event("answer_outbound"), lambda_context)

    assert replay["body"] == first["body"]  # the same, already issued, token
    assert table_items(nonces=True) == before


def test_a_request_that_failed_is_not_remembered_so_plivos_retry_still_runs(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "UpdateItem")
    client = aws.dynamodb()

    def fail(**_: Any) -> None:
        raise throttled

    with monkeypatch.context() as patch:
        patch.setattr(client, "update_item", fail)
        assert hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)["statusCode"] == 503

    retried = hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)  # same nonce

    assert retried["statusCode"] == 200
    call = open_store().calls.get_call(c.CALL_UUID)
    assert call is not None
    assert call["state"] == "completed"


def test_the_nonce_is_remembered_with_the_answer_for_as_long_as_call_records(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    event = load_event("answer_outbound")
    response = answer_app.lambda_handler(event, lambda_context)

    (nonce,) = [item for item in table_items(nonces=True) if item["pk"].startswith("NONCE#")]
    assert nonce["pk"] == f"NONCE#{event['headers']['x-plivo-signature-v3-nonce']}"
    assert nonce["sk"] == "ROUTE#/plivo/answer"
    assert (nonce["status_code"], nonce["body"]) == (200, response["body"])
    call = open_store().calls.get_call(c.CALL_UUID)
    assert call is not None
    assert nonce["expires_at"] == call["expires_at"]


def test_a_nonce_is_remembered_per_route(aws_stack: Any, lambda_context: Any) -> None:
    """Only Plivo can sign, so one nonce on two routes is Plivo's own doing, never a replay: both run."""
    answer = load_event("answer_outbound")
    nonce = answer["headers"]["x-plivo-signature-v3-nonce"]
    hangup = me.http_event("/plivo/hangup", form=me.HANGUP_FORM, query=me.PLACEMENT_QUERY, nonce=nonce)

    answer_app.lambda_handler(answer, lambda_context)
    assert hangup_app.lambda_handler(hangup, lambda_context)["statusCode"] == 200

    call = open_store().calls.get_call(c.CALL_UUID)
    assert call is not None
    assert call["state"] == "completed"


def test_a_retry_with_a_fresh_nonce_is_still_harmless(aws_stack: Any, lambda_context: Any) -> None:
    """Whether Plivo reuses nonces on retries is undocumented: a retry with a new one runs, and the
    conditional transitions keep it from acting twice."""
    first = hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)
    again = me.http_event("/plivo/hangup", form=me.HANGUP_FORM, query=me.PLACEMENT_QUERY, nonce="1" * 20)

    assert hangup_app.lambda_handler(again, lambda_context)["statusCode"] == first["statusCode"] == 200

    call = open_store().calls.get_call(c.CALL_UUID)
    assert call is not None
    assert call["outcome"] == "human"


def test_when_the_nonce_cannot_be_remembered_the_action_still_answers_plivo(
    aws_stack: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.exceptions import ClientError

    from voiceagent.store.nonces import NonceRepository

    def fail(*_: Any, **__: Any) -> bool:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "PutItem")

    monkeypatch.setattr(NonceRepository, "remember", fail)

    response = answer_app.lambda_handler(load_event("answer_outbound"), lambda_context)

    assert response["statusCode"] == 200
    assert "<Stream" in response["body"]
    assert '"WebhookNonceNotRemembered"' in capsys.readouterr().out


def test_an_overlong_nonce_is_not_plivos(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    response = answer_app.lambda_handler(load_event("answer_nonce_too_long"), lambda_context)

    assert response["statusCode"] == 403
    assert json.loads(response["body"]) == {"message": "forbidden"}
    assert table_items() == []
