"""The signed notification to your own agent: its signature, and a few bounded, jittered retries."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import responses

from tests.support import constants as c
from tests.support import make_events as me
from voiceagent.agents import notification as notifying
from voiceagent.agents.notification import (
    SIGNATURE_HEADER,
    AgentNotification,
    Attempt,
    Notifier,
    sign,
    verify,
)
from voiceagent.plivo.rest import Deadline

KEY = c.AGENT_WEBHOOK_SECRET.encode()


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    taken: list[float] = []
    monkeypatch.setattr(notifying, "_sleep", taken.append)
    return taken


def sample() -> AgentNotification:
    return AgentNotification.model_validate_json(me.agent_notification()["body"])


def notifier(*, attempts: int = 3, seconds: float = 15) -> Notifier:
    return Notifier(
        key=lambda: KEY, timeout_seconds=2, max_attempts=attempts, deadline=Deadline.after(seconds)
    )


def send(mock: responses.RequestsMock, *answers: Any, **options: Any) -> tuple[Any, list[Attempt]]:
    for answer in answers:
        if isinstance(answer, Exception):
            mock.post(c.AGENT_WEBHOOK_URL, body=answer)
        else:
            mock.post(c.AGENT_WEBHOOK_URL, status=answer)
    seen: list[Attempt] = []
    return notifier(**options).send(c.AGENT_WEBHOOK_URL, sample(), seen.append), seen


# ---------------------------------------------------------------- the signature


def test_a_signature_verifies_with_its_key_body_and_time() -> None:
    body = b'{"notification":"voicemail"}'
    header = sign(KEY, body, 1_732_451_411)
    assert verify(KEY, body, header, now=1_732_451_411)
    assert verify(KEY, body, header, now=1_732_451_411 + 299)
    assert not verify(KEY, body, header, now=1_732_451_411 + 301)  # too old: a replay
    assert not verify(b"another key", body, header, now=1_732_451_411)
    assert not verify(KEY, body + b" ", header, now=1_732_451_411)  # the body changed
    assert not verify(KEY, body, header.replace("t=1732451411", "t=1732451412"), now=1_732_451_411)
    assert not verify(KEY, body, "v1=abc", now=1_732_451_411)
    assert not verify(KEY, body, "nonsense", now=1_732_451_411)


def test_the_sample_notification_in_events_verifies() -> None:
    sent = me.agent_notification()
    header = sent["headers"][SIGNATURE_HEADER]
    assert verify(KEY, sent["body"].encode(), header, now=me.NOTIFICATION_TIME)
    body = json.loads(sent["body"])
    assert body["notification"] == "voicemail"
    assert body["event_id"] == f"{c.CALL_UUID}:machine-detected"  # the Machine Detected detail…
    assert body["notification_id"] == f"{c.CALL_UUID}:agent-notified"  # …and what to do about it
    assert body["voicemail"]["voice"] == "WOMAN"


# ---------------------------------------------------------------- delivery


def test_delivered_at_once_with_a_signed_body(
    plivo_rest: responses.RequestsMock, pauses: list[float]
) -> None:
    delivery, seen = send(plivo_rest, 200)

    assert delivery.delivered
    assert [attempt.status for attempt in seen] == [200]
    (call,) = plivo_rest.calls
    body = call.request.body
    assert isinstance(body, bytes)
    assert json.loads(body) == json.loads(sample().model_dump_json(by_alias=True))
    assert verify(KEY, body, str(call.request.headers[SIGNATURE_HEADER]), now=int(time.time()))
    assert call.request.headers["X-Voiceagent-Notification-Id"] == f"{c.CALL_UUID}:agent-notified"
    assert pauses == []


def test_server_errors_timeouts_and_throttling_are_tried_again(
    plivo_rest: responses.RequestsMock, pauses: list[float]
) -> None:
    delivery, seen = send(plivo_rest, 503, requests.exceptions.ConnectTimeout(), 200, attempts=4)

    assert delivery.delivered
    assert [(attempt.status, attempt.error) for attempt in seen] == [
        (503, None),
        (None, "timeout"),
        (200, None),
    ]
    assert delivery.summary == "delivered after 3 attempt(s): 503, timeout, 200"
    assert len(pauses) == 2
    assert 0.125 <= pauses[0] <= 0.25  # jittered, and growing
    assert 0.25 <= pauses[1] <= 0.5


@pytest.mark.parametrize("status", [429, 408])
def test_throttled_or_timed_out_on_the_agents_side_is_retried(
    status: int, plivo_rest: responses.RequestsMock, pauses: list[float]
) -> None:
    delivery, seen = send(plivo_rest, status, 204)
    assert delivery.delivered
    assert len(seen) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 409, 302])
def test_a_refusal_is_final(status: int, plivo_rest: responses.RequestsMock, pauses: list[float]) -> None:
    """4xx (and a redirect, which is not followed): the agent will not leave the message; retrying cannot
    change that, so the transfer policy leaves it without delay."""
    delivery, seen = send(plivo_rest, status)
    assert not delivery.delivered
    assert [attempt.status for attempt in seen] == [status]
    assert pauses == []


def test_attempts_are_bounded(plivo_rest: responses.RequestsMock, pauses: list[float]) -> None:
    delivery, seen = send(plivo_rest, 500, 502, 503, 200, attempts=3)
    assert not delivery.delivered
    assert [attempt.status for attempt in seen] == [500, 502, 503]
    assert len(plivo_rest.calls) == 3


def test_no_retry_past_the_functions_time(plivo_rest: responses.RequestsMock, pauses: list[float]) -> None:
    delivery, seen = send(plivo_rest, 503, 200, seconds=1.0)
    assert not delivery.delivered
    assert len(seen) == 1
    assert pauses == []


def test_a_connection_error_is_named_and_retried(
    plivo_rest: responses.RequestsMock, pauses: list[float]
) -> None:
    delivery, seen = send(plivo_rest, requests.exceptions.ConnectionError("refused"), 200)
    assert delivery.delivered
    assert seen[0].error == "ConnectionError"
    assert seen[0].as_dict().keys() == {"at", "error", "milliseconds"}
