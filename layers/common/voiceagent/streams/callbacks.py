"""The stream-status webhook's domain logic: store each event once, keep the stream's record, count it.
(What to do once a stream ends is decided by the <Redirect> after the <Stream>: calls.stream_ended.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from voiceagent import observability
from voiceagent.clock import iso
from voiceagent.plivo.webhooks import StreamStatusWebhook
from voiceagent.store import Store
from voiceagent.streams.events import StreamEvent, StreamEventKind

logger = Logger(child=True)

METRIC_NAMES = {
    StreamEventKind.STARTED: "StreamsStarted",
    StreamEventKind.STOPPED: "StreamsStopped",
    StreamEventKind.DROPPED: "StreamsDropped",
    StreamEventKind.DEGRADED: "StreamsDegraded",
    StreamEventKind.UNKNOWN: "StreamEventsUnknown",
}


@dataclass(frozen=True)
class StreamStatusResult:
    event: StreamEvent
    new: bool


def record_stream_status(webhook: StreamStatusWebhook, *, store: Store, now: datetime) -> StreamStatusResult:
    event = StreamEvent.from_webhook(webhook, now)
    if not store.streams.put_event(event.call_uuid, event.idempotency_key, event.stored_attributes(), now):
        logger.info("stream event already recorded", extra={"stream_event": event.plivo_event})
        return StreamStatusResult(event, new=False)
    if event.kind is StreamEventKind.UNKNOWN:
        logger.warning("unknown stream event stored", extra={"stream_event": event.plivo_event})
    facts, overwrite, counters = event.stream_changes()
    store.streams.update_stream(
        event.call_uuid, event.stream_id, now, facts=facts, overwrite=overwrite, counters=counters
    )
    if event.kind is StreamEventKind.STARTED:
        _started(event, store, now)
    emit_metrics(event)
    return StreamStatusResult(event, new=True)


def _started(event: StreamEvent, store: Store, now: datetime) -> None:
    """The stream is the call's current one; if it follows a reconnect decision, that recovery worked."""
    call = store.calls.name_stream(
        event.call_uuid, event.stream_id, now, facts={"stream_started_at": iso(event.at)}
    )
    if call is None:
        logger.info("stream started after the call completed: the call keeps its stream")
        return
    ends = int(call.get("stream_end_count") or 0)
    if ends and store.streams.mark_recovered(event.call_uuid, ends, event.stream_id, now):
        logger.info("stream recovered", extra={"attempt": ends})


def emit_metrics(event: StreamEvent) -> None:
    """One metric per event kind, by stage; degradations also by buffer level."""
    observability.count(METRIC_NAMES[event.kind])
    if event.kind is StreamEventKind.DEGRADED:
        observability.count(
            "StreamsDegradedByLevel", level=event.stream_changes()[1]["last_degradation_level"]
        )
