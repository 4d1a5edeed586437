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

MEDIA_ROUTE = "media_route"
EXTERNAL_AGENT = "external_agent"
"""``stream_to`` of a call: where its audio streams (our media route, or your own agent)."""


@dataclass(frozen=True)
class StreamPlan:
    """How a call's audio is connected: ``<Stream>`` XML with a fresh single-use token, whoever serves it —
    our media route, or your own agent (the call's ``stream_url``, else the stack's ``AgentStreamUrl``)."""

    websocket_url: str
    token_key: bytes
    token_ttl_seconds: int
    timeout_seconds: int
    base_url: str
    """The public base URL of our webhooks (the stream status and stream-ended callbacks are there)."""
    callback_retries: int
    agent_stream_url: str | None = None
    """The stack's ``AgentStreamUrl``: your own agent takes every call that names no ``stream_url``."""

    def target(self, call_stream_url: str | None) -> tuple[str, str]:
        """Where a call streams, and whether that is our media route or your agent (``stream_to``)."""
        external = call_stream_url or self.agent_stream_url
        return (external, EXTERNAL_AGENT) if external else (self.websocket_url, MEDIA_ROUTE)

    def xml(
        self, call_uuid: str, placement_id: str | None, now: datetime, stream_url: str | None = None
    ) -> str:
        """``<Stream>`` (a fresh token: it opens one connection) then ``<Redirect>`` to the stream-ended
        webhook, which Plivo fetches when the stream ends. ``stream_url``: the call's own agent, if any."""
        target, _ = self.target(stream_url)
        service_url = stream_token.stream_url(
            target, self.token_key, call_uuid, int(now.timestamp()), self.token_ttl_seconds
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
    inherited = placement_facts(store.placements, placement_id, webhook.call_uuid, now)
    stream_url = inherited.get("stream_url")
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
            "stream_to": plan.target(stream_url)[1],
            **inherited,
        },
    )
    xml = plan.xml(webhook.call_uuid, placement_id, now, stream_url=stream_url)
    return AnswerResult(xml=xml, transition=transition)
