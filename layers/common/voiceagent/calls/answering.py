"""The answer webhook's domain logic: record the call as answered and connect its audio stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voiceagent.calls.placement_join import placement_facts
from voiceagent.plivo.webhooks import AnswerWebhook
from voiceagent.plivo.xml import StreamOptions, stream_response
from voiceagent.store import Store
from voiceagent.store.calls import Transition
from voiceagent.store.states import CallState
from voiceagent.streams import tokens as stream_token


@dataclass(frozen=True)
class AnswerResult:
    xml: str
    transition: Transition


def answer_call(
    webhook: AnswerWebhook,
    *,
    store: Store,
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
    transition = store.calls.transition(
        webhook.call_uuid,
        CallState.ANSWERED,
        now,
        facts={
            "from_number": webhook.from_ or None,
            "to_number": webhook.to or None,
            "direction": webhook.direction or None,
            "request_uuid": webhook.request_uuid or webhook.a_leg_request_uuid,
            "custom_headers": webhook.custom_headers() or None,
            **placement_facts(store.placements, placement_id, webhook.call_uuid, now),
        },
    )
    xml = stream_response(
        StreamOptions(
            service_url=stream_token.stream_url(
                websocket_url, token_key, webhook.call_uuid, int(now.timestamp()), token_ttl_seconds
            ),
            status_callback_url=status_callback_url,
            timeout_seconds=stream_timeout_seconds,
        )
    )
    return AnswerResult(xml=xml, transition=transition)
