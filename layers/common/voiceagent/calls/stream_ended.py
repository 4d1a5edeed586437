"""What happens when a call's stream ends and the call goes on: the answer to the ``<Redirect>`` that follows
our ``<Stream>`` in the call's XML.

After a drop Plivo has already tried to reconnect twice, then the ``<Stream>`` ends and Plivo fetches the
next element — this ``<Redirect>``. (A Start Stream API call after a drop cannot help: with nothing after the
``<Stream>``, the call would already be over.) The answer, in order:

- the call is over, or the agent (or the hangup policy) ended it: hang up;
- the stream ended normally (Plivo's StopStream, or its ``streamTimeout`` ran out): hang up;
- otherwise it dropped (or its status callback has not arrived yet, which is the drop case): reconnect with a
  fresh single-use token — a new ``<Stream>`` and this ``<Redirect>`` again — at most
  ``STREAM_RECOVERY_MAX_ATTEMPTS`` times per call; after that, a machine gets the voicemail XML and a person a
  short apology (``STREAM_RECOVERY_APOLOGY``; none = just hang up).

Every decision is recorded (``RECOVERY#n``) and shows on the call's report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from voiceagent.calls.answering import StreamPlan
from voiceagent.calls.voicemail import serve_voicemail
from voiceagent.clock import parse_iso
from voiceagent.plivo.webhooks import StreamEndedWebhook
from voiceagent.plivo.xml import hangup_response
from voiceagent.settings import Settings
from voiceagent.store import Store
from voiceagent.store.states import CallState

TIMEOUT_MARGIN = timedelta(seconds=5)
"""A stream that ran this close to ``streamTimeout`` ended by the timeout, whatever else is known."""
OVER_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled", "timeout"})


class StreamEndAction(StrEnum):
    RECONNECT = "reconnect"
    VOICEMAIL = "voicemail"  # fallback for a machine: leave the message
    APOLOGY = "apology"  # fallback for a person: a short apology, then hang up
    HANGUP = "hangup"


@dataclass(frozen=True)
class StreamEnd:
    xml: str
    action: StreamEndAction
    reason: str
    attempt: int | None = None
    """The reconnect's number (1..max) when the action is a reconnect."""


@dataclass(frozen=True)
class StreamEndContext:
    """What deciding about an ended stream needs besides the webhook."""

    store: Store
    plan: StreamPlan
    settings: Settings
    placement_id: str | None
    now: datetime


def stream_ended(webhook: StreamEndedWebhook, context: StreamEndContext) -> StreamEnd:
    call = context.store.streams.count_stream_end(webhook.call_uuid, context.now)
    if call is None:
        return _hangup(context.settings, "unknown call")
    decision = _decide(webhook, call, context)
    context.store.streams.record_recovery(
        webhook.call_uuid,
        int(call["stream_end_count"]),
        {
            "action": decision.action.value,
            "reason": decision.reason,
            "reconnect_attempt": decision.attempt,
            "ended_stream_id": call.get("stream_id"),
        },
        context.now,
    )
    return decision


def _decide(webhook: StreamEndedWebhook, call: dict[str, Any], context: StreamEndContext) -> StreamEnd:
    store, settings, now = context.store, context.settings, context.now
    if call.get("state") == CallState.COMPLETED.value or webhook.call_status.lower() in OVER_STATUSES:
        return _hangup(settings, "the call is over")
    if call.get("agent_hangup") or call.get("agent_transfer") or call.get("policy_applied") == "hangup":
        return _hangup(settings, "the agent or the voicemail policy ended the call")
    ended_normally = _normal_end(call, store, settings, now)
    if ended_normally:
        return _hangup(settings, ended_normally)
    attempt = store.streams.reserve_recovery(webhook.call_uuid, settings.stream_recovery_max_attempts, now)
    if attempt is not None:
        return StreamEnd(
            context.plan.xml(webhook.call_uuid, context.placement_id, now, stream_url=call.get("stream_url")),
            StreamEndAction.RECONNECT,
            f"stream lost; reconnecting ({attempt} of {settings.stream_recovery_max_attempts})",
            attempt,
        )
    if call.get("machine_detection_result") == "machine":
        xml = serve_voicemail(
            webhook.call_uuid, placement_id=context.placement_id, store=store, settings=settings, now=now
        )
        return StreamEnd(xml, StreamEndAction.VOICEMAIL, "stream lost for good; leaving the voicemail")
    message = settings.stream_recovery_apology
    xml = hangup_response(
        message=message, voice=settings.voicemail_voice, language=settings.voicemail_language
    )
    action = StreamEndAction.APOLOGY if message else StreamEndAction.HANGUP
    return StreamEnd(xml, action, "stream lost for good")


def _normal_end(call: dict[str, Any], store: Store, settings: Settings, now: datetime) -> str | None:
    """Why the call's current stream ended normally (a StopStream, or its timeout), or None: a drop, or
    no word yet (Plivo's status callback races this request)."""
    stream_id = call.get("stream_id")
    stream = store.streams.get_stream(call["call_uuid"], stream_id) if isinstance(stream_id, str) else None
    if not stream or stream.get("dropped_at"):
        return None
    if stream.get("stopped_at"):
        return f"the stream stopped ({stream.get('stop_reason') or 'StopStream'})"
    started = stream.get("started_at")
    if (
        started
        and now - parse_iso(started) >= timedelta(seconds=settings.stream_timeout_seconds) - TIMEOUT_MARGIN
    ):
        return "the stream timed out"
    return None


def _hangup(settings: Settings, reason: str) -> StreamEnd:
    xml = hangup_response(message=None, voice=settings.voicemail_voice, language=settings.voicemail_language)
    return StreamEnd(xml, StreamEndAction.HANGUP, reason)
