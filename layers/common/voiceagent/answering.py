"""The answer webhook's domain logic: record the call as answered and connect its audio stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voiceagent import stream_token
from voiceagent.placement_join import placement_facts
from voiceagent.plivo_xml import stream_response
from voiceagent.repository import CallRepository, Transition
from voiceagent.states import CallState
from voiceagent.webhooks import AnswerWebhook


def stream_url(websocket_url: str, token_key: bytes, call_uuid: str, now: datetime, ttl_seconds: int) -> str:
    """The wss URL for one call's stream, carrying its short-lived token (never a secret)."""
    token = stream_token.issue(token_key, call_uuid, int(now.timestamp()), ttl_seconds)
    return f"{websocket_url}?{token.query()}"


@dataclass(frozen=True)
class AnswerResult:
    xml: str
    transition: Transition


def answer_call(
    webhook: AnswerWebhook,
    *,
    repository: CallRepository,
    token_key: bytes,
    websocket_url: str,
    status_callback_url: str,
    stream_timeout_seconds: int,
    token_ttl_seconds: int,
    placement_id: str | None,
    now: datetime,
) -> AnswerResult:
    """Record the answer (idempotent) and return the stream XML.

    A retried answer webhook gets the same kind of XML back (Plivo needs a document every time) but does not
    move the call: a call already further along stays where it is.
    """
    transition = repository.transition(
        webhook.call_uuid,
        CallState.ANSWERED,
        now,
        facts={
            "from_number": webhook.from_ or None,
            "to_number": webhook.to or None,
            "direction": webhook.direction or None,
            "request_uuid": webhook.request_uuid or webhook.a_leg_request_uuid,
            "custom_headers": webhook.custom_headers() or None,
            **placement_facts(repository, placement_id, webhook.call_uuid, now),
        },
    )
    xml = stream_response(
        websocket_url=stream_url(websocket_url, token_key, webhook.call_uuid, now, token_ttl_seconds),
        status_callback_url=status_callback_url,
        stream_timeout_seconds=stream_timeout_seconds,
    )
    return AnswerResult(xml=xml, transition=transition)
