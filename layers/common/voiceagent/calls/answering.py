"""The answer webhook's domain logic: record the call as answered and connect its audio stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voiceagent import routes
from voiceagent.calls.placement_join import placement_facts
from voiceagent.plivo.callbacks import callback_url
from voiceagent.plivo.webhooks import AnswerWebhook
from voiceagent.plivo.xml import StreamOptions, stream_response
from voiceagent.store import Store
from voiceagent.store.calls import Transition
from voiceagent.store.states import CallState
from voiceagent.streams import tokens as stream_token


@dataclass(frozen=True)
class StreamPlan:
    """How a call's audio is connected: ``<Stream>`` XML with a fresh single-use token, whoever serves it."""

    websocket_url: str
    token_key: bytes
    token_ttl_seconds: int
    timeout_seconds: int
    base_url: str
    """The public base URL of our webhooks (the stream status and stream-ended callbacks are there)."""
    callback_retries: int

    def xml(self, call_uuid: str, placement_id: str | None, now: datetime) -> str:
        """``<Stream>`` (a fresh token: it opens one connection) then ``<Redirect>`` to the stream-ended
        webhook, which Plivo fetches when the stream ends."""
        service_url = stream_token.stream_url(
            self.websocket_url, self.token_key, call_uuid, int(now.timestamp()), self.token_ttl_seconds
        )
        return stream_response(
            StreamOptions(
                service_url=service_url,
                status_callback_url=callback_url(
                    self.base_url, routes.STREAM_STATUS, None, retries=self.callback_retries
                ),
                timeout_seconds=self.timeout_seconds,
            ),
            stream_ended_url=callback_url(
                self.base_url, routes.STREAM_ENDED, placement_id, retries=self.callback_retries
            ),
        )


@dataclass(frozen=True)
class AnswerResult:
    xml: str
    transition: Transition


def answer_call(
    webhook: AnswerWebhook,
    *,
    store: Store,
    plan: StreamPlan,
    placement_id: str | None,
    now: datetime,
) -> AnswerResult:
    """Record the answer (idempotent) and return the stream XML.

    A retried answer webhook with a fresh nonce gets the same kind of XML back (Plivo needs a document every
    time; one reusing its nonce gets the very same document from the replay guard) but does not move the
    call: a call already further along stays where it is.
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
    return AnswerResult(xml=plan.xml(webhook.call_uuid, placement_id, now), transition=transition)
